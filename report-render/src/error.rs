//! The error type of every renderer.

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Writing the file (or a temporary file) failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The XLSX writer refused something.
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The zip writer (CSV archive) failed.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Serialising JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The caller broke the sink protocol: a row before `begin_table`, a wrong cell count,
    /// a chart after the first table, two tables with the same name, ...
    #[error("protocol: {0}")]
    Protocol(String),
}
