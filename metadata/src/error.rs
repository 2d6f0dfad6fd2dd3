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
}

impl From<tokio_postgres::Error> for MetadataError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message (with its detail) says what went wrong.
        match e.as_db_error() {
            Some(db) => {
                MetadataError::Unavailable(format!("{}: {}", db.code().code(), db.message()))
            }
            None => MetadataError::Unavailable(e.to_string()),
        }
    }
}
