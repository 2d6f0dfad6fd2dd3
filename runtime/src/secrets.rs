//! Secrets from files: every secret setting `NAME` may instead be given as
//! `NAME_FILE`, the path of a file holding it (the container and Kubernetes
//! convention: mounted secrets, never in the environment or the process
//! list). [`load_from_files`] runs first thing in `main`, before any thread
//! exists, and sets `NAME` from the file for the usual settings to read;
//! trailing line breaks are dropped. Giving both `NAME` and `NAME_FILE` is
//! an error, and so is a missing or empty file: a secret that silently
//! falls back to nothing is worse than a refusal to start.
//!
//! [`resolve`] is the pure part (what to set, or why not), tested on its
//! own.

use std::path::Path;

/// The secret settings of the product's binaries that accept `_FILE`
/// (`REPORT_LINK_SECRET_FILE` is a setting of its own). Every Kafka client
/// property given as `KAFKA_PROPERTY_<NAME>` does too (see
/// [`kafka_property_names`]), e.g. `KAFKA_PROPERTY_SASL_PASSWORD_FILE`.
pub const SECRET_SETTINGS: [&str; 4] = [
    "CLICKHOUSE_PASSWORD",
    "DATABASE_URL",
    "SCHEMA_REGISTRY_PASSWORD",
    "SMTP_URL",
];

/// Why a secret could not be taken from its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{name} and {name}_FILE are both set: set one of them")]
    Both { name: String },
    #[error("{name}_FILE: cannot read {path}: {reason}")]
    Unreadable {
        name: String,
        path: String,
        reason: String,
    },
    #[error("{name}_FILE: {path} is empty")]
    Empty { name: String, path: String },
}

/// What to set for `names`: `(NAME, value)` for every `NAME_FILE` given
/// (read with `read`), reading the environment with `var`.
pub fn resolve(
    names: &[&str],
    var: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Vec<(String, String)>, SecretError> {
    let mut set = Vec::new();
    for name in names {
        let Some(path) = var(&format!("{name}_FILE")).filter(|p| !p.is_empty()) else {
            continue;
        };
        if var(name).is_some_and(|v| !v.is_empty()) {
            return Err(SecretError::Both {
                name: (*name).to_owned(),
            });
        }
        let text = read(Path::new(&path)).map_err(|e| SecretError::Unreadable {
            name: (*name).to_owned(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.trim().is_empty() {
            return Err(SecretError::Empty {
                name: (*name).to_owned(),
                path,
            });
        }
        set.push(((*name).to_owned(), value.to_owned()));
    }
    Ok(set)
}

/// Prefix of the variables that set librdkafka properties.
pub const KAFKA_PROPERTY_PREFIX: &str = "KAFKA_PROPERTY_";

/// `KAFKA_PROPERTY_<NAME>` for every `KAFKA_PROPERTY_<NAME>_FILE` among
/// the variable names `vars`.
pub fn kafka_property_names<'a>(vars: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    vars.into_iter()
        .filter(|v| v.starts_with(KAFKA_PROPERTY_PREFIX))
        .filter_map(|v| v.strip_suffix("_FILE"))
        .filter(|name| name.len() > KAFKA_PROPERTY_PREFIX.len())
        .map(str::to_owned)
        .collect()
}

/// Set every [`SECRET_SETTINGS`] `NAME` given as `NAME_FILE` from its file,
/// and every `KAFKA_PROPERTY_<NAME>` given as `KAFKA_PROPERTY_<NAME>_FILE`.
/// Call it before the async runtime starts (it changes the process's
/// environment, which is only safe while no other thread runs).
pub fn load_from_files() -> Result<(), SecretError> {
    let vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    let kafka = kafka_property_names(vars.iter().map(String::as_str));
    let names: Vec<&str> = SECRET_SETTINGS
        .iter()
        .copied()
        .chain(kafka.iter().map(String::as_str))
        .collect();
    let set = resolve(
        &names,
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )?;
    for (name, value) in set {
        std::env::set_var(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn run(
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, SecretError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let files: HashMap<String, String> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(
            &["CLICKHOUSE_PASSWORD", "DATABASE_URL"],
            |name| env.get(name).cloned(),
            |path| {
                files
                    .get(path.to_str().unwrap_or_default())
                    .cloned()
                    .ok_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
                    })
            },
        )
    }

    #[test]
    fn a_file_gives_the_secret_without_its_line_break() {
        let set = run(
            &[
                ("CLICKHOUSE_PASSWORD_FILE", "/run/secrets/ch"),
                ("DATABASE_URL", "postgres://x"),
            ],
            &[("/run/secrets/ch", "s3cret with spaces \n")],
        )
        .unwrap();
        assert_eq!(
            set,
            [(
                "CLICKHOUSE_PASSWORD".to_string(),
                "s3cret with spaces ".to_string()
            )]
        );
        assert_eq!(run(&[], &[]).unwrap(), []);
        assert_eq!(run(&[("DATABASE_URL_FILE", "")], &[]).unwrap(), []);
    }

    #[test]
    fn both_a_missing_file_and_an_empty_one_are_errors() {
        let both = run(
            &[("DATABASE_URL", "a"), ("DATABASE_URL_FILE", "/f")],
            &[("/f", "b")],
        );
        assert_eq!(
            both.unwrap_err().to_string(),
            "DATABASE_URL and DATABASE_URL_FILE are both set: set one of them"
        );
        let missing = run(&[("DATABASE_URL_FILE", "/nope")], &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "DATABASE_URL_FILE: cannot read /nope: no such file"
        );
        let empty = run(&[("CLICKHOUSE_PASSWORD_FILE", "/e")], &[("/e", " \n")]).unwrap_err();
        assert_eq!(empty.to_string(), "CLICKHOUSE_PASSWORD_FILE: /e is empty");
        // An empty NAME does not count as given.
        let set = run(
            &[("DATABASE_URL", ""), ("DATABASE_URL_FILE", "/f")],
            &[("/f", "postgres://y\r\n")],
        )
        .unwrap();
        assert_eq!(
            set,
            [("DATABASE_URL".to_string(), "postgres://y".to_string())]
        );
    }

    #[test]
    fn kafka_properties_take_files_too() {
        let names = kafka_property_names([
            "KAFKA_PROPERTY_SASL_PASSWORD_FILE",
            "KAFKA_PROPERTY_SASL_USERNAME",
            "KAFKA_PROPERTY__FILE",
            "KAFKA_BROKERS_FILE",
            "PATH",
        ]);
        assert_eq!(names, ["KAFKA_PROPERTY_SASL_PASSWORD"]);
    }
}
