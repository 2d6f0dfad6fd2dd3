//! The report document: metadata, charts, table specs, rows and cells.

use chrono::{DateTime, NaiveDate, Utc};

/// What a report is about, shown at the top of PDF/HTML, in the XLSX summary sheet and
/// in the JSON envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Human title, e.g. "Campaign performance".
    pub title: String,
    /// The tenant the report belongs to.
    pub tenant: String,
    /// The report kind (e.g. `campaign_performance`).
    pub kind: String,
    /// The parameters the report was run with, in display order.
    pub parameters: Vec<(String, String)>,
    /// The data's freshness, when known.
    pub as_of: Option<DateTime<Utc>>,
    /// When the run produced the files.
    pub generated_at: DateTime<Utc>,
    /// The report's IANA time zone (shown; cell times are rendered in UTC).
    pub timezone: String,
}

/// How a column's cells are meant to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Free text.
    Text,
    /// Whole numbers.
    Integer,
    /// Decimal numbers.
    Number,
    /// A percentage already scaled to 0..100 (rendered as-is, not multiplied).
    Percent,
    /// An instant (rendered in UTC).
    DateTime,
    /// A calendar date.
    Date,
    /// Yes/no.
    Bool,
}

impl ColumnType {
    /// Whether cells of this type are numeric (right-aligned in HTML and PDF).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnType::Integer | ColumnType::Number | ColumnType::Percent
        )
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header text.
    pub name: String,
    /// Cell type.
    pub ty: ColumnType,
}

impl Column {
    /// A column named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
        }
    }
}

/// A table's description, given to [`Sink::begin_table`](crate::Sink::begin_table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Machine name: the file name inside the CSV zip, the JSON key (e.g. `campaigns`).
    pub name: String,
    /// Human title: section heading, XLSX sheet name (sanitised).
    pub title: String,
    /// The columns, in cell order.
    pub columns: Vec<Column>,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (empty / blank).
    Null,
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal number (for `Percent` columns: already 0..100).
    Number(f64),
    /// An instant.
    DateTime(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A boolean.
    Bool(bool),
}

/// One table row: typed cells for the tabular formats, and the API's JSON object of the
/// same row for the JSON format.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// One cell per column of the current table.
    pub cells: Vec<Cell>,
    /// The row as the API returns it (written verbatim by the JSON format).
    pub json: serde_json::Value,
}

/// A chart shown by the PDF and HTML formats (ignored by the others).
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Horizontal bars, one per label (e.g. a campaign's funnel).
    Bars {
        /// Heading.
        title: String,
        /// One label per bar.
        labels: Vec<String>,
        /// One value per bar.
        values: Vec<f64>,
        /// Unit shown after the values (may be empty).
        unit: String,
    },
    /// One or more series over the same labels (e.g. an overview trend).
    Line {
        /// Heading.
        title: String,
        /// X-axis labels.
        labels: Vec<String>,
        /// The series; each has one value per label (`NaN` for a gap).
        series: Vec<Series>,
    },
}

impl Chart {
    /// The chart's heading.
    pub fn title(&self) -> &str {
        match self {
            Chart::Bars { title, .. } | Chart::Line { title, .. } => title,
        }
    }
}

/// One line of a [`Chart::Line`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per label.
    pub values: Vec<f64>,
}
