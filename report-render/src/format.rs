//! The output formats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 4180 CSV; a zip of one CSV per table when there are several tables.
    Csv,
    /// The API's JSON rows, grouped by table.
    Json,
    /// An Excel workbook, one sheet per table.
    Xlsx,
    /// A paginated PDF with charts.
    Pdf,
    /// A standalone HTML page with inline SVG charts.
    Html,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Json,
        Format::Xlsx,
        Format::Pdf,
        Format::Html,
    ];

    /// The lowercase name (`"csv"`, ...), as used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
            Format::Html => "html",
        }
    }

    /// The usual file extension, without the dot. CSV with several tables is
    /// written as a `zip` instead (see [`RenderedFile::file_name`](crate::RenderedFile)).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The MIME type of a file of this format (CSV: of a single CSV file).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?} (expected csv, json, xlsx, pdf or html)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}
