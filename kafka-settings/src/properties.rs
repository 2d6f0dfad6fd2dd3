//! librdkafka properties from a properties file, `KAFKA_PROPERTY_*`
//! variables and `--kafka-property` flags (later ones win), checked and
//! masked. Pure but for [`KafkaProperties::resolve`] reading the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use rdkafka::ClientConfig;

/// Prefix of the variables that set a property:
/// `KAFKA_PROPERTY_SASL_MECHANISM` is `sasl.mechanism` (upper case, `_` for
/// `.`, `__` for a literal `_`, as Confluent's images do).
pub const ENV_PREFIX: &str = "KAFKA_PROPERTY_";

/// Properties the product sets itself because its guarantees depend on
/// them, with the reason given when one is set anyway.
pub const RESERVED: &[(&str, &str)] = &[
    (
        "bootstrap.servers",
        "set the brokers with the binary's own setting (KAFKA_BROKERS, --brokers or --kafka-brokers)",
    ),
    (
        "group.id",
        "each client names its own group (the processor's is KAFKA_GROUP_ID)",
    ),
    (
        "enable.auto.commit",
        "offsets are committed together with the state they reflect",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed together with the state they reflect",
    ),
    (
        "partition.assignment.strategy",
        "co-partitioned topics need the range assignor",
    ),
    (
        "enable.idempotence",
        "producers whose records must not double are idempotent",
    ),
    ("acks", "producers whose records must not be lost wait for all replicas"),
    (
        "transactional.id",
        "the product does not use Kafka transactions",
    ),
    (
        "enable.partition.eof",
        "the dead-letter replay relies on its own setting",
    ),
];

/// Whether `name`'s value is a secret: never printed.
pub fn is_secret(name: &str) -> bool {
    name.contains("password")
        || name.contains("secret")
        || name.ends_with("key.pem")
        || name == "sasl.oauthbearer.config"
}

/// Where a property's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Line `line` of the properties file.
    File { path: String, line: usize },
    /// A `KAFKA_PROPERTY_*` variable (or its `_FILE`).
    Env(String),
    /// `--kafka-property`.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, line } => write!(f, "{path}:{line}"),
            Source::Env(var) => write!(f, "{var}"),
            Source::Flag => write!(f, "--kafka-property"),
        }
    }
}

/// Why the properties were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    #[error("{at}: {name} cannot be set here: {reason}")]
    Reserved {
        name: String,
        at: Source,
        reason: &'static str,
    },
    #[error("{at}: expected NAME=VALUE, e.g. security.protocol=SASL_SSL")]
    Syntax { at: Source },
    #[error("{at}: \"{name}\" is not a librdkafka property name (lower case letters, digits, '.' and '_')")]
    BadName { name: String, at: Source },
    #[error("KAFKA_PROPERTIES_FILE: cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{var}: its value is not UTF-8")]
    NotUtf8 { var: String },
}

/// The librdkafka properties every Kafka client of a binary gets on top of
/// its own settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties {
    values: BTreeMap<String, (String, Source)>,
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.masked().into_iter().map(|(k, v, _)| (k, v)))
            .finish()
    }
}

/// `KAFKA_PROPERTY_SASL_MECHANISM` → `sasl.mechanism`; `None` for other
/// variables.
pub fn property_of_env(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    let name = rest
        .split("__")
        .map(|part| part.replace('_', "."))
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase();
    Some(name)
}

impl KafkaProperties {
    /// The file (`file`: its path and text), then the variables `env`, then
    /// the flags: a later value of a property replaces an earlier one.
    pub fn parse(
        file: Option<(&str, &str)>,
        env: &[(String, String)],
        flags: &[String],
    ) -> Result<Self, PropertyError> {
        let mut props = KafkaProperties::default();
        if let Some((path, text)) = file {
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                let source = Source::File {
                    path: path.to_owned(),
                    line: i + 1,
                };
                let (name, value) = line
                    .split_once('=')
                    .ok_or_else(|| PropertyError::Syntax { at: source.clone() })?;
                props.set(name.trim(), value.trim(), source)?;
            }
        }
        let mut vars: Vec<&(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !k.ends_with("_FILE"))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let name = property_of_env(var).unwrap_or_default();
            props.set(&name, value, Source::Env(var.clone()))?;
        }
        for flag in flags {
            let (name, value) = flag
                .split_once('=')
                .ok_or(PropertyError::Syntax { at: Source::Flag })?;
            props.set(name.trim(), value, Source::Flag)?;
        }
        Ok(props)
    }

    /// [`Self::parse`] with the process's variables and the file at `file`.
    pub fn resolve(file: Option<&Path>, flags: &[String]) -> Result<Self, PropertyError> {
        let mut env = Vec::new();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            if !k.starts_with(ENV_PREFIX) {
                continue;
            }
            let v = v
                .into_string()
                .map_err(|_| PropertyError::NotUtf8 { var: k.clone() })?;
            env.push((k, v));
        }
        let text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path).map_err(|e| PropertyError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
            ),
            None => None,
        };
        let path = file.map(|p| p.display().to_string());
        let file = path.as_deref().zip(text.as_deref());
        Self::parse(file, &env, flags)
    }

    fn set(&mut self, name: &str, value: &str, source: Source) -> Result<(), PropertyError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
            && !name.starts_with('.')
            && !name.ends_with('.');
        if !valid {
            return Err(PropertyError::BadName {
                name: name.to_owned(),
                at: source,
            });
        }
        if let Some((_, reason)) = RESERVED.iter().find(|(r, _)| *r == name) {
            return Err(PropertyError::Reserved {
                name: name.to_owned(),
                at: source,
                reason,
            });
        }
        self.values
            .insert(name.to_owned(), (value.to_owned(), source));
        Ok(())
    }

    /// Set every property on `config` (after the client's own settings:
    /// these win).
    pub fn apply(&self, config: &mut ClientConfig) {
        for (name, (value, _)) in &self.values {
            config.set(name, value);
        }
    }

    /// A client of `brokers` with these properties and nothing else.
    pub fn client_config(&self, brokers: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        self.apply(&mut c);
        c
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// Where `name` was set, if it was.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.values.get(name).map(|(_, s)| s)
    }

    /// Every property as (name, value with secrets as `****`, source).
    pub fn masked(&self) -> Vec<(String, String, Source)> {
        self.values
            .iter()
            .map(|(name, (value, source))| {
                let shown = if is_secret(name) {
                    "****".to_owned()
                } else {
                    value.clone()
                };
                (name.clone(), shown, source.clone())
            })
            .collect()
    }

    /// `config check`'s lines: every property, secrets masked, with where
    /// it was set; nothing when there are none.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = String::from("Kafka client properties:\n");
        for (name, value, source) in self.masked() {
            out.push_str(&format!("  {name} = {value}  ({source})\n"));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The property a librdkafka configuration error names, with where it
    /// was set: `No such configuration property: "sasl.usernme"`.
    pub fn named_in(&self, message: &str) -> Option<(&str, &Source)> {
        self.values
            .iter()
            .filter(|(name, _)| message.contains(&format!("\"{name}\"")))
            .max_by_key(|(name, _)| name.len())
            .map(|(name, (_, source))| (name.as_str(), source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variable_names_map_to_property_names() {
        assert_eq!(
            property_of_env("KAFKA_PROPERTY_SECURITY_PROTOCOL").as_deref(),
            Some("security.protocol")
        );
        assert_eq!(
            property_of_env("KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_ID").as_deref(),
            Some("sasl.oauthbearer.client.id")
        );
        assert_eq!(
            property_of_env("KAFKA_PROPERTY_SOME__ODD_NAME").as_deref(),
            Some("some_odd.name")
        );
        assert_eq!(property_of_env("KAFKA_BROKERS"), None);
    }

    #[test]
    fn flags_override_variables_which_override_the_file() {
        let file = "# client.properties\n\
                    security.protocol = SASL_SSL\n\
                    sasl.mechanism=PLAIN\n\
                    \n\
                    ! also a comment\n\
                    ssl.ca.location=/etc/ca.pem\n";
        let props = KafkaProperties::parse(
            Some(("/etc/kafka.properties", file)),
            &env(&[
                ("KAFKA_PROPERTY_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("KAFKA_PROPERTY_SASL_USERNAME", "alice"),
                ("KAFKA_PROPERTY_SASL_PASSWORD_FILE", "/run/secrets/kafka"),
                ("PATH", "/bin"),
            ]),
            &["sasl.username=bob".into(), "linger.ms=10".into()],
        )
        .unwrap();
        assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(props.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(props.get("sasl.username"), Some("bob"));
        assert_eq!(props.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(props.get("linger.ms"), Some("10"));
        // The _FILE variable was resolved before (runtime::secrets).
        assert_eq!(props.get("sasl.password.file"), None);
        assert_eq!(
            props.source("ssl.ca.location"),
            Some(&Source::File {
                path: "/etc/kafka.properties".into(),
                line: 6
            })
        );
        assert_eq!(
            props.source("sasl.mechanism").map(ToString::to_string),
            Some("KAFKA_PROPERTY_SASL_MECHANISM".into())
        );
        let mut config = ClientConfig::new();
        props.apply(&mut config);
        assert_eq!(config.get("sasl.username"), Some("bob"));
    }

    #[test]
    fn reserved_and_malformed_properties_are_refused_with_their_source() {
        let e = KafkaProperties::parse(
            None,
            &env(&[("KAFKA_PROPERTY_ENABLE_AUTO_COMMIT", "true")]),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "KAFKA_PROPERTY_ENABLE_AUTO_COMMIT: enable.auto.commit cannot be set here: \
             offsets are committed together with the state they reflect"
        );
        let e = KafkaProperties::parse(Some(("k.properties", "acks=1")), &[], &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("k.properties:1: acks cannot be set here"),
            "{e}"
        );
        let e = KafkaProperties::parse(None, &[], &["security.protocol".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--kafka-property: expected NAME=VALUE, e.g. security.protocol=SASL_SSL"
        );
        let e =
            KafkaProperties::parse(Some(("p", "\n\nsasl.mechanism PLAIN")), &[], &[]).unwrap_err();
        assert_eq!(
            e,
            PropertyError::Syntax {
                at: Source::File {
                    path: "p".into(),
                    line: 3
                }
            }
        );
        let e = KafkaProperties::parse(None, &[], &["Security.Protocol=SSL".into()]).unwrap_err();
        assert!(matches!(e, PropertyError::BadName { .. }), "{e}");
    }

    #[test]
    fn secrets_are_masked() {
        let props = KafkaProperties::parse(
            None,
            &env(&[
                ("KAFKA_PROPERTY_SASL_PASSWORD", "hunter2"),
                ("KAFKA_PROPERTY_SSL_KEY_PASSWORD", "k3y"),
                ("KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET", "s3"),
                ("KAFKA_PROPERTY_SASL_USERNAME", "alice"),
            ]),
            &[],
        )
        .unwrap();
        let debug = format!("{props:?}");
        for secret in ["hunter2", "k3y", "s3\""] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("alice"), "{debug}");
        let masked = props.masked();
        assert_eq!(masked.len(), 4);
        assert!(masked
            .iter()
            .all(|(n, v, _)| n == "sasl.username" || v == "****"));
        assert_eq!(props.get("sasl.password"), Some("hunter2"));
    }

    #[test]
    fn a_librdkafka_error_is_traced_to_the_setting() {
        let props = KafkaProperties::parse(
            None,
            &env(&[
                ("KAFKA_PROPERTY_SASL_USERNME", "alice"),
                ("KAFKA_PROPERTY_SASL", "x"),
            ]),
            &[],
        )
        .unwrap();
        let (name, source) = props
            .named_in("No such configuration property: \"sasl.usernme\"")
            .unwrap();
        assert_eq!(name, "sasl.usernme");
        assert_eq!(source.to_string(), "KAFKA_PROPERTY_SASL_USERNME");
        assert_eq!(props.named_in("something else"), None);
    }
}
