//! What can go wrong talking to the metadata database.

/// An error of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The settings are wrong (a malformed URL): fix them and restart.
    #[error("metadata database settings: {0}")]
    Config(String),
    /// The server cannot be reached or refused the statement.
    #[error("metadata database unavailable: {0}")]
    Unavailable(String),
    /// A migration failed.
    #[error("metadata database migration: {0}")]
    Migration(String),
    /// A stored row does not decode (written by a newer release?).
    #[error("metadata database row: {0}")]
    Corrupt(String),
    /// A rule names channels that are not live channels of its tenant
    /// (deleted, another tenant's, never created); checked in the rule's
    /// transaction, under a lock the channel's deletion waits for.
    #[error("not channels of this tenant: {0:?}")]
    UnknownChannels(Vec<String>),
}

impl From<tokio_postgres::Error> for MetadataError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message (with its detail) says what went wrong.
        match e.as_db_error() {
            Some(db) => {
                MetadataError::Unavailable(format!("{}: {}", db.code().code(), db.message()))
            }
            // tokio-postgres's message is the kind ("error performing TLS
            // handshake"); the reason is in its causes.
            None => MetadataError::Unavailable(with_causes(&e)),
        }
    }
}

/// `e`'s message followed by those of its causes.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        // Some errors repeat their cause's message in their own.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
