//! One configuration file per deployment, read by every binary.
//!
//! The file is TOML; its keys are the settings' environment variable names
//! in lower case, so a setting has one name everywhere (`--help` shows it
//! as `[env: NAME=]`):
//!
//! ```toml
//! [common]                 # every binary; a key one does not use it ignores
//! kafka_brokers = "b-1.example.com:9096"
//! clickhouse_password_file = "/run/credentials/clickhouse-password"
//!
//! [processor]              # only `processor`
//! snapshot_interval_ms = 1000
//!
//! [query-api]              # only `query-api`
//! listen_addr = "0.0.0.0:8080"
//!
//! [kafka-properties]       # librdkafka properties of every Kafka client
//! "security.protocol" = "SASL_SSL"
//! ```
//!
//! Precedence: a flag, then an environment variable, then the file, then
//! the default. [`load`] turns the file into environment variables that are
//! not set already (`X_FILE` in the file yields to `X` in the environment
//! and the other way round), before the secrets are read from their files
//! and before any thread runs; clap then reads them as usual. [`parse`] and
//! [`plan`] are the pure parts; [`effective`] lists what a command's
//! settings came to, for `config check`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variable that names the file when `--config` is not given.
pub const CONFIG_ENV: &str = "ANALYTICS_CONFIG";

/// The sections a file may have.
pub const SECTIONS: [&str; 4] = ["common", "processor", "query-api", "kafka-properties"];

/// Why the file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: cannot read it: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Toml { path: String, reason: String },
    #[error("config file {path}: unknown section [{section}]; the sections are [common], [processor], [query-api] and [kafka-properties]")]
    Section { path: String, section: String },
    #[error(
        "config file {path}: `{key}` at the top: put it in a section ([common] for every binary)"
    )]
    TopLevel { path: String, key: String },
    #[error("config file {path}: [{section}] {key}: must be a string, a number or a boolean")]
    Value {
        path: String,
        section: String,
        key: String,
    },
    #[error("config file {path}: [{section}] {key}: not a setting name (lower case letters, digits and '_': the environment variable's name in lower case)")]
    Key {
        path: String,
        section: String,
        key: String,
    },
    #[error("config file {path}: [{section}] {key}: {binary} has no such setting ({hint})")]
    Unknown {
        path: String,
        section: String,
        key: String,
        binary: String,
        hint: String,
    },
}

/// One value of the file, as the variable it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSetting {
    /// The environment variable: `KAFKA_BROKERS`, `KAFKA_PROPERTY_SASL_MECHANISM`.
    pub var: String,
    pub value: String,
    /// `[common] kafka_brokers`.
    pub origin: String,
}

/// What a file holds for one binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSettings {
    pub path: String,
    /// The binary's values: `[common]`, its own section, `[kafka-properties]`.
    pub settings: Vec<FileSetting>,
    /// `[common]` keys this binary has no setting for (another binary's, or
    /// a misspelling: `config check` lists them).
    pub unused: Vec<String>,
}

/// `args` without `--config PATH` / `--config=PATH` (before `--`): the
/// file is read before clap parses, so clap need not know where the flag
/// may go (before or after a subcommand).
pub fn without_config_flag(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        if arg == "--config" {
            iter.next();
            continue;
        }
        if arg.to_str().is_some_and(|a| a.starts_with("--config=")) {
            continue;
        }
        out.push(arg);
    }
    out
}

impl FileSettings {
    /// Add `setting`, replacing an earlier value of its variable.
    fn set(&mut self, setting: FileSetting) {
        self.settings.retain(|s| s.var != setting.var);
        self.settings.push(setting);
    }
}

/// The path of the file: `--config PATH` or `--config=PATH` in `args`
/// (before `--`), else `env` (the value of [`CONFIG_ENV`]).
pub fn config_path(args: &[OsString], env: Option<OsString>) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    env.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The variable of a librdkafka property: `sasl.mechanism` →
/// `KAFKA_PROPERTY_SASL_MECHANISM` (`_` doubled, `.` as `_`).
pub fn kafka_property_var(name: &str) -> String {
    format!(
        "KAFKA_PROPERTY_{}",
        name.replace('_', "__")
            .replace('.', "_")
            .to_ascii_uppercase()
    )
}

/// Whether `var` names a setting of a binary whose flags read `known`:
/// one of them, `NAME_FILE` of one of its secrets, or a Kafka property.
fn is_known(var: &str, known: &BTreeSet<String>, secrets: &[&str]) -> bool {
    known.contains(var)
        || var.starts_with("KAFKA_PROPERTY_")
        || var == "RUST_LOG"
        || var
            .strip_suffix("_FILE")
            .is_some_and(|base| secrets.contains(&base) && known.contains(base))
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The file `text` at `path` for `binary` (`processor`, `query-api`),
/// whose settings are the variables `known` (and the secrets `secrets`
/// also take `NAME_FILE`).
pub fn parse(
    text: &str,
    path: &str,
    binary: &str,
    known: &BTreeSet<String>,
    secrets: &[&str],
) -> Result<FileSettings, ConfigError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })?;
    let mut out = FileSettings {
        path: path.to_owned(),
        ..FileSettings::default()
    };
    for (section, table) in &doc {
        if !table.is_table() {
            return Err(ConfigError::TopLevel {
                path: path.to_owned(),
                key: section.clone(),
            });
        }
        if !SECTIONS.contains(&section.as_str()) {
            return Err(ConfigError::Section {
                path: path.to_owned(),
                section: section.clone(),
            });
        }
    }
    // The binary's own section last: its value of a setting wins over
    // [common]'s (and [kafka-properties] over a kafka_property_* key).
    let order = SECTIONS
        .iter()
        .filter(|s| **s != binary)
        .copied()
        .chain(std::iter::once(binary));
    for section in order {
        let Some(table) = doc.get(section).and_then(toml::Value::as_table) else {
            continue;
        };
        let section = section.to_owned();
        for (key, value) in table {
            let value = scalar(value).ok_or_else(|| ConfigError::Value {
                path: path.to_owned(),
                section: section.clone(),
                key: key.clone(),
            })?;
            let origin = format!("[{section}] {key}");
            if section == "kafka-properties" {
                out.set(FileSetting {
                    var: kafka_property_var(key),
                    value,
                    origin,
                });
                continue;
            }
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(ConfigError::Key {
                    path: path.to_owned(),
                    section: section.clone(),
                    key: key.clone(),
                });
            }
            if section != "common" && section != binary {
                continue;
            }
            let var = key.to_ascii_uppercase();
            if !is_known(&var, known, secrets) {
                if section == "common" {
                    out.unused.push(origin);
                    continue;
                }
                return Err(ConfigError::Unknown {
                    path: path.to_owned(),
                    section: section.clone(),
                    key: key.clone(),
                    binary: binary.to_owned(),
                    hint: format!("`{binary} --help` shows each setting as [env: NAME=]; the key is NAME in lower case"),
                });
            }
            out.set(FileSetting { var, value, origin });
        }
    }
    Ok(out)
}

/// Which of `settings` to set, given the variables already set (`is_set`):
/// the environment wins, also over the other form of a secret (`X` against
/// `X_FILE`).
pub fn plan(settings: &[FileSetting], is_set: impl Fn(&str) -> bool) -> Vec<&FileSetting> {
    settings
        .iter()
        .filter(|s| {
            let other = match s.var.strip_suffix("_FILE") {
                Some(base) => base.to_owned(),
                None => format!("{}_FILE", s.var),
            };
            !is_set(&s.var) && !is_set(&other)
        })
        .collect()
}

/// Every environment variable the flags of `cmd` and its subcommands read.
pub fn env_names(cmd: &clap::Command) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_env(cmd, &mut names);
    names
}

fn collect_env(cmd: &clap::Command, names: &mut BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(env) = arg.get_env().and_then(|e| e.to_str()) {
            names.insert(env.to_owned());
        }
    }
    for sub in cmd.get_subcommands() {
        collect_env(sub, names);
    }
}

/// Read the file named by `--config` or [`CONFIG_ENV`] (if any) for
/// `binary` and set its values as environment variables where none is set.
/// Call it first thing in `main`, while no other thread runs. Returns what
/// the file held (empty without a file).
pub fn load(
    binary: &str,
    cmd: &clap::Command,
    secrets: &[&str],
) -> Result<FileSettings, ConfigError> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(path) = config_path(&args, std::env::var_os(CONFIG_ENV)) else {
        return Ok(FileSettings::default());
    };
    let shown = path.display().to_string();
    let text = read(&path).map_err(|reason| ConfigError::Unreadable {
        path: shown.clone(),
        reason,
    })?;
    let file = parse(&text, &shown, binary, &env_names(cmd), secrets)?;
    let set: Vec<(String, String)> = plan(&file.settings, |var| {
        std::env::var_os(var).is_some_and(|v| !v.is_empty())
    })
    .into_iter()
    .map(|s| (s.var.clone(), s.value.clone()))
    .collect();
    for (var, value) in set {
        std::env::set_var(var, value);
    }
    Ok(file)
}

/// Why a binary could not take its settings from files.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// What every binary's `main` does first, while no other thread runs, in
/// this order: the configuration file's values become variables where none
/// is set ([`load`]), then every secret given as `NAME_FILE` (the file's
/// `*_file` keys included) becomes `NAME` ([`crate::secrets::load_from_files`]).
pub fn load_with_secrets(binary: &str, cmd: &clap::Command) -> Result<FileSettings, LoadError> {
    let file = load(binary, cmd, &crate::secrets::SECRET_SETTINGS)?;
    crate::secrets::load_from_files()?;
    Ok(file)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// One line of `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The variable (`--flag` for a flag without one).
    pub name: String,
    /// The value, masked when secret; `None`: not set.
    pub value: Option<String>,
    /// `flag`, `env`, `file [common] key`, `default`.
    pub source: String,
}

/// A secret URL without its password and query: `postgres://u:****@h/db`.
pub fn mask_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return "****".to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{user}:****@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_owned(),
    };
    let path = tail.split('?').next().unwrap_or("");
    let query = if tail.contains('?') { "?****" } else { "" };
    format!("{scheme}://{authority}{path}{query}")
}

/// What each setting of `cmd` (the subcommand `run` or `serve`, after
/// parsing with `matches`) came to, and from where; `file` says which
/// variables the file set. Secrets (`hide_env_values`) are masked.
pub fn effective(
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
    file: &FileSettings,
) -> Vec<Effective> {
    let mut rows = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let env = arg.get_env().and_then(|e| e.to_str()).map(str::to_owned);
        let name = env
            .clone()
            .unwrap_or_else(|| format!("--{}", arg.get_long().unwrap_or(id)));
        let raw: Option<Vec<String>> = matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect());
        let value = raw.map(|values| {
            let joined = values.join(",");
            if arg.is_hide_env_values_set() && !joined.is_empty() {
                mask_url(&joined)
            } else {
                joined
            }
        });
        let source = match matches.value_source(id) {
            Some(clap::parser::ValueSource::CommandLine) => "flag".to_owned(),
            Some(clap::parser::ValueSource::EnvVariable) => env
                .as_deref()
                .and_then(|var| file.settings.iter().find(|s| s.var == var))
                .filter(|s| std::env::var(&s.var).ok().as_deref() == Some(s.value.as_str()))
                .map_or_else(|| "env".to_owned(), |s| format!("file {}", s.origin)),
            Some(clap::parser::ValueSource::DefaultValue) => "default".to_owned(),
            _ => "-".to_owned(),
        };
        rows.push(Effective {
            name,
            value: value.filter(|v| !v.is_empty()),
            source,
        });
    }
    rows
}

/// `<binary> config check`'s common part: parse `<binary> <subcommand>`
/// from the environment (the file's values included) as the real start
/// would, and list every setting with where it came from. Returns the
/// matches (for the binary's own checks) and the text to print, or why a
/// value is invalid.
pub fn check(
    cmd: &clap::Command,
    binary: &str,
    subcommand: &str,
    file: &FileSettings,
) -> Result<(clap::ArgMatches, String), String> {
    let matches = cmd
        .clone()
        .try_get_matches_from([binary, subcommand])
        .map_err(|e| explain(cmd, &e, file))?;
    let mut text = if file.path.is_empty() {
        format!("no configuration file (--config, {CONFIG_ENV})\n")
    } else {
        format!("configuration file {}\n", file.path)
    };
    let mut rows = effective(cmd, &matches, file);
    if let (Some(sub), Some(sub_matches)) = (
        cmd.find_subcommand(subcommand),
        matches.subcommand_matches(subcommand),
    ) {
        rows.extend(effective(sub, sub_matches, file));
    }
    // Flags flattened at the top and in the subcommand (query-api's serve)
    // are listed once.
    let mut seen = BTreeSet::new();
    rows.retain(|r| r.name != "--config" && seen.insert(r.name.clone()));
    text.push_str(&format!("settings of `{binary} {subcommand}`:\n"));
    text.push_str(&render(&rows));
    for unused in &file.unused {
        text.push_str(&format!("not a setting of {binary} (ignored): {unused}\n"));
    }
    Ok((matches, text))
}

/// Parse the command line as `P::parse` does, but a bad value's error
/// also says where it came from ([`explain`]): the file or a variable.
pub fn parse_or_exit<P: clap::Parser>(file: &FileSettings) -> P {
    P::try_parse_from(without_config_flag(std::env::args_os())).unwrap_or_else(|e| {
        if !e.use_stderr() {
            // --help, --version.
            e.exit()
        }
        eprintln!("{}", explain(&P::command(), &e, file));
        std::process::exit(2)
    })
}

/// A clap error with where the bad value came from: the file's key or the
/// variable, which clap's message (naming the flag) does not say.
pub fn explain(cmd: &clap::Command, error: &clap::Error, file: &FileSettings) -> String {
    let rendered = error.render().to_string();
    let flag = error
        .get(clap::error::ContextKind::InvalidArg)
        .map(ToString::to_string)
        .unwrap_or_default();
    let long = flag
        .split_whitespace()
        .next()
        .and_then(|f| f.strip_prefix("--"))
        .unwrap_or("");
    let env = find_env(cmd, long);
    let from = env.and_then(|var| {
        let in_env = std::env::var(&var).ok();
        file.settings
            .iter()
            .find(|s| s.var == var && in_env.as_deref() == Some(s.value.as_str()))
            .map(|s| format!("set by {} {}", file.path, s.origin))
            .or_else(|| in_env.map(|_| format!("set by the variable {var}")))
    });
    let rendered = rendered.trim_end();
    match from {
        Some(from) => {
            let (first, rest) = rendered.split_once('\n').unwrap_or((rendered, ""));
            format!("{first} ({from})\n{rest}")
        }
        None => rendered.to_owned(),
    }
}

fn find_env(cmd: &clap::Command, long: &str) -> Option<String> {
    if long.is_empty() {
        return None;
    }
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .and_then(|e| e.to_str())
        .map(str::to_owned)
        .or_else(|| cmd.get_subcommands().find_map(|s| find_env(s, long)))
}

/// `config check`'s table.
pub fn render(rows: &[Effective]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let value = r.value.as_deref().unwrap_or("(not set)");
        out.push_str(&format!("  {:width$}  {}  ({})\n", r.name, value, r.source));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        [
            "KAFKA_BROKERS",
            "SNAPSHOT_INTERVAL_MS",
            "CLICKHOUSE_PASSWORD",
            "LOG_FORMAT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    const FILE: &str = r#"
[common]
kafka_brokers = "b1:9096,b2:9096"
clickhouse_password_file = "/run/secrets/ch"
database_url_file = "/run/secrets/db"
listen_addr = "0.0.0.0:8080"

[processor]
snapshot_interval_ms = 500
log_format = "json"

[query-api]
request_timeout_ms = 100

[kafka-properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"#;

    fn vars(f: &FileSettings) -> Vec<(&str, &str)> {
        f.settings
            .iter()
            .map(|s| (s.var.as_str(), s.value.as_str()))
            .collect()
    }

    #[test]
    fn a_binary_takes_common_its_own_section_and_the_kafka_properties() {
        let f = parse(
            FILE,
            "c.toml",
            "processor",
            &known(),
            &["CLICKHOUSE_PASSWORD"],
        )
        .unwrap();
        assert_eq!(
            vars(&f),
            [
                // Sections and keys in name order.
                ("CLICKHOUSE_PASSWORD_FILE", "/run/secrets/ch"),
                ("KAFKA_BROKERS", "b1:9096,b2:9096"),
                ("KAFKA_PROPERTY_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("KAFKA_PROPERTY_SECURITY_PROTOCOL", "SASL_SSL"),
                ("LOG_FORMAT", "json"),
                ("SNAPSHOT_INTERVAL_MS", "500"),
            ]
        );
        // The API's address and database are another binary's: unused,
        // not an error (and the secret's file is not read by this one).
        assert_eq!(
            f.unused,
            ["[common] database_url_file", "[common] listen_addr"]
        );
        assert_eq!(f.settings[5].origin, "[processor] snapshot_interval_ms");
    }

    #[test]
    fn a_binary_section_wins_over_common() {
        let text = "[query-api]\nkafka_brokers = \"\"\n\n[common]\nkafka_brokers = \"b:1\"\n\
                    kafka_property_sasl_mechanism = \"PLAIN\"\n\n\
                    [kafka-properties]\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n";
        let f = parse(text, "c.toml", "query-api", &known(), &[]).unwrap();
        assert_eq!(
            vars(&f),
            [
                ("KAFKA_PROPERTY_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("KAFKA_BROKERS", ""),
            ]
        );
        let p = parse(text, "c.toml", "processor", &known(), &[]).unwrap();
        assert_eq!(
            vars(&p),
            [
                ("KAFKA_BROKERS", "b:1"),
                ("KAFKA_PROPERTY_SASL_MECHANISM", "SCRAM-SHA-512"),
            ]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            parse(text, "c.toml", "processor", &known(), &[])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("[processor]\nsnapshot_intervall_ms = 5\n"),
            "config file c.toml: [processor] snapshot_intervall_ms: processor has no such setting \
             (`processor --help` shows each setting as [env: NAME=]; the key is NAME in lower case)"
        );
        assert!(err("[procesor]\nx = 1\n").contains("unknown section [procesor]"));
        assert!(err("kafka_brokers = \"x\"\n").contains("`kafka_brokers` at the top"));
        assert!(err("[common]\nkafka_brokers = [\"a\"]\n").contains("must be a string"));
        assert!(err("[common]\nKafka-Brokers = \"a\"\n").contains("not a setting name"));
        assert!(err("[common\n").starts_with("config file c.toml: "));
    }

    #[test]
    fn the_environment_wins_over_the_file_also_across_file_forms() {
        let f = parse(
            FILE,
            "c.toml",
            "processor",
            &known(),
            &["CLICKHOUSE_PASSWORD"],
        )
        .unwrap();
        let set = ["KAFKA_BROKERS", "CLICKHOUSE_PASSWORD"];
        let planned: Vec<&str> = plan(&f.settings, |v| set.contains(&v))
            .iter()
            .map(|s| s.var.as_str())
            .collect();
        assert_eq!(
            planned,
            [
                "KAFKA_PROPERTY_SASL_MECHANISM",
                "KAFKA_PROPERTY_SECURITY_PROTOCOL",
                "LOG_FORMAT",
                "SNAPSHOT_INTERVAL_MS",
            ]
        );
    }

    #[test]
    fn the_path_comes_from_the_flag_or_the_variable() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let env = Some(OsString::from("/etc/env.toml"));
        assert_eq!(
            config_path(&args(&["p", "--config", "/a.toml", "run"]), env.clone()),
            Some(PathBuf::from("/a.toml"))
        );
        assert_eq!(
            config_path(&args(&["p", "run", "--config=/b.toml"]), None),
            Some(PathBuf::from("/b.toml"))
        );
        assert_eq!(
            config_path(&args(&["p", "run"]), env),
            Some(PathBuf::from("/etc/env.toml"))
        );
        assert_eq!(
            config_path(&args(&["p", "--", "--config", "x"]), Some(OsString::new())),
            None
        );
    }

    #[test]
    fn the_flag_is_taken_out_before_clap_parses() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            without_config_flag(args(&[
                "q",
                "--config",
                "/a.toml",
                "serve",
                "--config=/b.toml",
                "--listen",
                "x",
                "--",
                "--config",
                "y"
            ])),
            args(&["q", "serve", "--listen", "x", "--", "--config", "y"])
        );
    }

    #[test]
    fn kafka_properties_map_to_their_variables() {
        assert_eq!(
            kafka_property_var("sasl.mechanism"),
            "KAFKA_PROPERTY_SASL_MECHANISM"
        );
        assert_eq!(
            kafka_property_var("odd_name.x"),
            "KAFKA_PROPERTY_ODD__NAME_X"
        );
    }

    #[test]
    fn secret_urls_keep_only_what_is_not_secret() {
        assert_eq!(
            mask_url("postgres://campaign:pw@db:5432/analytics?sslmode=verify-full"),
            "postgres://campaign:****@db:5432/analytics?****"
        );
        assert_eq!(
            mask_url("smtp://relay.example.com:25"),
            "smtp://relay.example.com:25"
        );
        assert_eq!(mask_url("hunter2"), "****");
    }

    #[test]
    fn effective_settings_say_where_each_value_came_from() {
        use clap::{Arg, Command};
        let cmd = Command::new("run")
            .arg(Arg::new("brokers").long("brokers").env("CFG_TEST_BROKERS"))
            .arg(
                Arg::new("interval")
                    .long("interval")
                    .env("CFG_TEST_INTERVAL")
                    .default_value("1000"),
            )
            .arg(
                Arg::new("password")
                    .long("password")
                    .env("CFG_TEST_PASSWORD")
                    .hide_env_values(true),
            )
            .arg(Arg::new("group").long("group"));
        let matches = cmd
            .clone()
            .try_get_matches_from(["run", "--brokers", "b:1", "--password", "pw"])
            .unwrap();
        let rows = effective(&cmd, &matches, &FileSettings::default());
        let shown: Vec<(&str, Option<&str>, &str)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_deref(), r.source.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("CFG_TEST_BROKERS", Some("b:1"), "flag"),
                ("CFG_TEST_INTERVAL", Some("1000"), "default"),
                ("CFG_TEST_PASSWORD", Some("****"), "flag"),
                ("--group", None, "-"),
            ]
        );
        assert!(render(&rows).contains("(not set)"));
    }
}
