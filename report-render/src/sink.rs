//! The streaming interface every format implements, and the factory.

use std::path::{Path, PathBuf};

use crate::output::safe_base_name;
use crate::{csv, html, json, pdf, xlsx};
use crate::{Chart, Format, Meta, RenderError, Row, TableSpec};

/// A report file being written as the document arrives.
///
/// Calls must follow the protocol: every [`chart`](Sink::chart) before the first
/// [`begin_table`](Sink::begin_table); tables one after the other (`begin_table`, `row`*,
/// `end_table`); each row with exactly one cell per column; then
/// [`finish`](Sink::finish). A violation is a [`RenderError::Protocol`], never a panic.
/// No sink keeps rows in memory.
pub trait Sink: Send {
    /// Adds a chart (ignored by CSV, JSON and XLSX).
    fn chart(&mut self, chart: &Chart) -> Result<(), RenderError>;
    /// Starts a table.
    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError>;
    /// Writes one row of the open table.
    fn row(&mut self, row: &Row) -> Result<(), RenderError>;
    /// Ends the open table.
    fn end_table(&mut self) -> Result<(), RenderError>;
    /// Completes the file and moves it to its final name.
    fn finish(self: Box<Self>) -> Result<RenderedFile, RenderError>;
}

/// A finished report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// The format it was rendered as.
    pub format: Format,
    /// Where it is.
    pub path: PathBuf,
    /// Its file name (`<base>.<ext>`; CSV with several tables: `<base>.zip`).
    pub file_name: String,
    /// Its MIME type.
    pub content_type: &'static str,
    /// Its size in bytes.
    pub size: u64,
}

/// Starts a `format` file for the report `meta` in `dir`, named `<base_name>.<ext>`.
///
/// `base_name` is made file-name safe (anything but ASCII letters, digits, `-`, `_`, `.`
/// becomes `_`). The file is written as `<name>.part` and renamed by `finish`.
pub fn sink(
    format: Format,
    meta: &Meta,
    dir: &Path,
    base_name: &str,
) -> Result<Box<dyn Sink>, RenderError> {
    let base = safe_base_name(base_name);
    Ok(match format {
        Format::Csv => Box::new(csv::CsvSink::new(dir, &base, meta.generated_at)),
        Format::Json => Box::new(json::JsonSink::new(meta, dir, &base)?),
        Format::Xlsx => Box::new(xlsx::XlsxSink::new(meta, dir, &base)?),
        Format::Pdf => Box::new(pdf::PdfSink::new(meta, dir, &base)?),
        Format::Html => Box::new(html::HtmlSink::new(meta, dir, &base)?),
    })
}
