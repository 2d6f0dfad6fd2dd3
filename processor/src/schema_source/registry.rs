//! A schema registry client: `GET <base>/schemas/ids/<id>`, the API that
//! Confluent Schema Registry, Karapace, Apicurio (ccompat) and Redpanda
//! serve, with optional HTTP basic authentication. Blocking (it runs on the
//! engine's thread, and only for ids not seen before).

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::{Found, SchemaSource, SchemaSourceError};

/// Timeout of one registry request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The answer of `GET /schemas/ids/{id}`.
#[derive(Debug, Deserialize)]
struct SchemaById {
    schema: String,
    /// Absent means AVRO (registries before protobuf/JSON support).
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
}

pub struct RegistryClient {
    base: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("RegistryClient")
            .field("base", &self.base)
            .field("basic_auth", &self.authorization.is_some())
            .finish()
    }
}

impl RegistryClient {
    /// A client of the registry at `base` (`http://` or `https://`), with
    /// `(user, password)` for basic authentication.
    pub fn new(base: &str, auth: Option<(String, String)>) -> Result<Self, SchemaSourceError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SchemaSourceError::Registry {
                url: base,
                reason: "the URL must start with http:// or https://".into(),
            });
        }
        let authorization = auth.map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        Ok(RegistryClient {
            base,
            authorization,
            agent,
        })
    }

    fn error(&self, reason: String) -> SchemaSourceError {
        SchemaSourceError::Registry {
            url: self.base.clone(),
            reason,
        }
    }
}

impl SchemaSource for RegistryClient {
    fn schema(&mut self, id: u32) -> Result<Option<Found>, SchemaSourceError> {
        let url = format!("{}/schemas/ids/{id}", self.base);
        let mut request = self.agent.get(&url).set(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some(auth) = &self.authorization {
            request = request.set("Authorization", auth);
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(ureq::Error::Status(code @ (401 | 403), _)) => {
                return Err(self.error(format!(
                    "HTTP {code}: check SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD"
                )))
            }
            Err(ureq::Error::Status(code, response)) => {
                let body = response.into_string().unwrap_or_default();
                let body: String = body.chars().take(200).collect();
                return Err(self.error(format!("HTTP {code} for schema id {id}: {body}")));
            }
            Err(e) => return Err(self.error(e.to_string())),
        };
        let body = response
            .into_string()
            .map_err(|e| self.error(format!("schema id {id}: reading the answer: {e}")))?;
        let answer: SchemaById = serde_json::from_str(&body)
            .map_err(|e| self.error(format!("schema id {id}: not a schema answer: {e}")))?;
        match answer.schema_type.as_deref() {
            None | Some("AVRO") => Ok(Some(Found::Avro(answer.schema))),
            // A protobuf or JSON schema: no Avro record of ours.
            Some(other) => Ok(Some(Found::Other(format!("{other} (not AVRO)")))),
        }
    }

    fn describe(&self) -> String {
        format!("schema registry {}", self.base)
    }
}
