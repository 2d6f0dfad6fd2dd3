//! Where the writer schemas of Confluent-framed records come from: a schema
//! registry's REST API ([`registry`]) and/or a local file mapping schema ids
//! to `.avsc` files ([`ids_file`]). The codec (crate `schemas`) does no I/O;
//! [`SchemaIds`] asks the configured sources for an id the codec does not
//! know yet, registers the answer, and remembers misses for a while so a
//! burst of records with an unknown id costs one lookup, not one per record.

pub mod ids_file;
pub mod registry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use schemas::{Codec, DecodeError, Event, EventKind};

pub use ids_file::IdsFile;
pub use registry::RegistryClient;

/// Why a source could not answer (as opposed to "does not know the id").
#[derive(Debug, thiserror::Error)]
pub enum SchemaSourceError {
    #[error("schema ids file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("schema registry {url}: {reason}")]
    Registry { url: String, reason: String },
}

/// What a source has under a schema id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An Avro schema: its JSON.
    Avro(String),
    /// A schema of another kind (protobuf, JSON Schema): what it is.
    Other(String),
}

/// A source of writer schemas by Confluent schema id.
pub trait SchemaSource: Send {
    /// What the source has under schema `id`, or `None` when it does not
    /// know it.
    fn schema(&mut self, id: u32) -> Result<Option<Found>, SchemaSourceError>;

    /// How logs name the source.
    fn describe(&self) -> String;
}

/// Where to find Confluent writer schemas (`processor run --help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SchemaSourceConfig {
    /// Schema registry base URL for Confluent-framed records (magic byte 0 +
    /// 4-byte schema id): `GET <url>/schemas/ids/<id>` (Confluent, Karapace,
    /// Apicurio's ccompat API, Redpanda). Schemas are cached for the life of
    /// the process. Empty: no registry.
    #[arg(long, env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,

    /// User for HTTP basic authentication to the registry (for Confluent
    /// Cloud: the API key).
    #[arg(long, env = "SCHEMA_REGISTRY_USER")]
    pub schema_registry_user: Option<String>,

    /// Password for HTTP basic authentication to the registry (for Confluent
    /// Cloud: the API secret).
    #[arg(long, env = "SCHEMA_REGISTRY_PASSWORD", hide_env_values = true)]
    pub schema_registry_password: Option<String>,

    /// A TOML file mapping schema ids to `.avsc` files, for deployments
    /// without a registry: `[ids]` then lines like `101 =
    /// "campaign_lifecycle.v1.avsc"` (paths relative to the file). Re-read
    /// when a record names an id it lacks (at most once a second), so a new
    /// schema ships by editing the file. Consulted before the registry.
    #[arg(long, env = "SCHEMA_IDS_FILE")]
    pub schema_ids_file: Option<PathBuf>,
}

impl SchemaSourceConfig {
    /// The configured sources, file first. Fails on a bad URL or an
    /// unreadable ids file, so a misconfiguration stops the start.
    pub fn sources(&self) -> Result<Vec<Box<dyn SchemaSource>>, SchemaSourceError> {
        let mut out: Vec<Box<dyn SchemaSource>> = Vec::new();
        if let Some(path) = &self.schema_ids_file {
            out.push(Box::new(IdsFile::open(path)?));
        }
        if let Some(url) = self
            .schema_registry_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            let auth = match (&self.schema_registry_user, &self.schema_registry_password) {
                (Some(u), p) if !u.is_empty() => Some((u.clone(), p.clone().unwrap_or_default())),
                _ => None,
            };
            out.push(Box::new(RegistryClient::new(url, auth)?));
        }
        Ok(out)
    }
}

/// How long an id that no source knew is not asked for again.
pub const MISS_TTL: Duration = Duration::from_secs(1);
/// Longest wait between attempts while a source cannot answer.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The codec's schema ids, filled from the sources as records need them.
pub struct SchemaIds {
    sources: Vec<Box<dyn SchemaSource>>,
    /// Ids no source could give, when they may be asked for again, and why.
    missed: HashMap<u32, (Instant, DecodeError)>,
    lookups: prometheus::IntCounterVec,
}

impl std::fmt::Debug for SchemaIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<String> = self.sources.iter().map(|s| s.describe()).collect();
        f.debug_struct("SchemaIds")
            .field("sources", &sources)
            .finish()
    }
}

impl SchemaIds {
    /// `lookups` counts lookups by outcome (`found`, `unknown`, `unusable`,
    /// `error`).
    pub fn new(sources: Vec<Box<dyn SchemaSource>>, lookups: prometheus::IntCounterVec) -> Self {
        SchemaIds {
            sources,
            missed: HashMap::new(),
            lookups,
        }
    }

    /// Decode `bytes`, which must be of kind `expected`. A Confluent record
    /// whose schema id the codec lacks makes the sources be asked for it
    /// first; while a source cannot answer (registry down), this retries
    /// with backoff rather than dead-letter records that are fine.
    pub fn decode_expecting(
        &mut self,
        codec: &mut Codec,
        bytes: &[u8],
        expected: EventKind,
    ) -> Result<Event, DecodeError> {
        match codec.decode_expecting(bytes, expected) {
            Err(DecodeError::UnknownSchemaId { id }) if !self.sources.is_empty() => {
                self.learn(codec, id)?;
                codec.decode_expecting(bytes, expected)
            }
            other => other,
        }
    }

    /// Ask the sources for `id` and register what they give; an error says
    /// why records of this id cannot be read.
    fn learn(&mut self, codec: &mut Codec, id: u32) -> Result<(), DecodeError> {
        let now = Instant::now();
        if let Some((until, err)) = self.missed.get(&id) {
            if now < *until {
                return Err(err.clone());
            }
        }
        let mut backoff = Duration::from_millis(200);
        let err = 'retry: loop {
            for source in &mut self.sources {
                let found = match source.schema(id) {
                    Ok(Some(found)) => found,
                    Ok(None) => continue,
                    Err(e) => {
                        self.lookups.with_label_values(&["error"]).inc();
                        tracing::error!(id, error = %e, "cannot look up schema id; retrying in {backoff:?} (records wait, nothing is dead-lettered)");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue 'retry;
                    }
                };
                let reason = match found {
                    Found::Avro(avsc) => match codec.register_schema_id(id, &avsc) {
                        Ok(kind) => {
                            self.lookups.with_label_values(&["found"]).inc();
                            tracing::info!(id, record = kind.record_name(), source = %source.describe(), "schema id registered");
                            self.missed.remove(&id);
                            return Ok(());
                        }
                        Err(e) => e.to_string(),
                    },
                    Found::Other(what) => what,
                };
                // Not one of our records: its records go to the dead letters.
                self.lookups.with_label_values(&["unusable"]).inc();
                tracing::warn!(id, %reason, source = %source.describe(), "schema id is not readable as an event");
                break 'retry DecodeError::ForeignSchema { id, found: reason };
            }
            self.lookups.with_label_values(&["unknown"]).inc();
            break DecodeError::UnknownSchemaId { id };
        };
        self.missed
            .insert(id, (Instant::now() + MISS_TTL, err.clone()));
        Err(err)
    }
}
