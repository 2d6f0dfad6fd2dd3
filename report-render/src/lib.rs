//! Report files.
//!
//! A report document (metadata, then charts, then tables whose rows arrive one by one)
//! is written to files as it arrives, with bounded memory: no format keeps the rows.
//!
//! | format | file | notes |
//! | --- | --- | --- |
//! | [`Format::Csv`] | `<base>.csv`, or `<base>.zip` of `<table>.csv` when there are several tables | RFC 4180, charts ignored |
//! | [`Format::Json`] | `<base>.json` | the API's JSON rows under `tables.<name>` |
//! | [`Format::Xlsx`] | `<base>.xlsx` | summary sheet + one typed sheet per table (constant memory) |
//! | [`Format::Pdf`] | `<base>.pdf` | A4 landscape, vector charts, paginated tables |
//! | [`Format::Html`] | `<base>.html` | standalone page, inline CSS and SVG charts |
//!
//! Everything is synchronous: run it on a blocking thread and feed it rows from the
//! async stream. [`Fanout`] feeds several formats from one pass over the data.
//!
//! ```no_run
//! # fn demo(meta: &report_render::Meta, dir: &std::path::Path) -> Result<(), report_render::RenderError> {
//! use report_render::{Cell, Column, ColumnType, Fanout, Format, Row, TableSpec};
//! let mut out = Fanout::create(&Format::ALL, meta, dir, "run-42")?;
//! out.begin_table(&TableSpec {
//!     name: "campaigns".into(),
//!     title: "Campaigns".into(),
//!     columns: vec![Column::new("Campaign", ColumnType::Text)],
//! })?;
//! out.row(&Row { cells: vec![Cell::Text("Spring".into())], json: serde_json::json!({"campaign": "Spring"}) })?;
//! out.end_table()?;
//! let files = out.finish()?;
//! # let _ = files; Ok(()) }
//! ```

mod chart;
mod csv;
mod error;
mod fanout;
mod format;
mod html;
mod json;
mod model;
mod output;
mod pdf;
mod protocol;
mod sink;
mod svg;
mod text;
mod xlsx;

pub use error::RenderError;
pub use fanout::Fanout;
pub use format::{Format, UnknownFormat};
pub use model::{Cell, Chart, Column, ColumnType, Meta, Row, Series, TableSpec};
pub use sink::{sink, RenderedFile, Sink};
