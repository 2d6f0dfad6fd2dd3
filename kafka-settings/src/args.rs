//! The command-line side of the Kafka client settings.

use std::fmt;
use std::path::PathBuf;

use crate::properties::{is_secret, KafkaProperties, PropertyError};

/// librdkafka properties for every Kafka client of the binary.
#[derive(Clone, Default, clap::Args)]
pub struct KafkaClientArgs {
    /// A librdkafka property for every Kafka client of this binary, as
    /// NAME=VALUE (repeatable), e.g. --kafka-property
    /// security.protocol=SASL_SSL. Also KAFKA_PROPERTY_<NAME> variables
    /// (upper case, '_' for '.', '__' for '_': KAFKA_PROPERTY_SASL_MECHANISM)
    /// and --kafka-properties-file; a flag wins over a variable, a variable
    /// over the file. Give secrets as KAFKA_PROPERTY_<NAME>_FILE (a file
    /// holding the value, e.g. KAFKA_PROPERTY_SASL_PASSWORD_FILE), never as
    /// a flag: flags show in the process list.
    #[arg(long = "kafka-property", value_name = "NAME=VALUE")]
    pub properties: Vec<String>,

    /// A file of librdkafka properties, NAME=VALUE per line, '#' comments
    /// (Kafka's client.properties format, without line continuations).
    #[arg(
        long = "kafka-properties-file",
        env = "KAFKA_PROPERTIES_FILE",
        value_name = "PATH"
    )]
    pub properties_file: Option<PathBuf>,
}

impl fmt::Debug for KafkaClientArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags: Vec<String> = self
            .properties
            .iter()
            .map(|p| match p.split_once('=') {
                Some((name, _)) if is_secret(name.trim()) => format!("{name}=****"),
                _ => p.clone(),
            })
            .collect();
        f.debug_struct("KafkaClientArgs")
            .field("properties", &flags)
            .field("properties_file", &self.properties_file)
            .finish()
    }
}

impl KafkaClientArgs {
    /// The properties these flags, the `KAFKA_PROPERTY_*` variables and the
    /// file give (reads the file).
    pub fn resolve(&self) -> Result<KafkaProperties, PropertyError> {
        KafkaProperties::resolve(self.properties_file.as_deref(), &self.properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_flags() {
        let args = KafkaClientArgs {
            properties: vec!["sasl.password=hunter2".into(), "sasl.username=alice".into()],
            properties_file: None,
        };
        let debug = format!("{args:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("sasl.password=****"), "{debug}");
        assert!(debug.contains("sasl.username=alice"), "{debug}");
    }
}
