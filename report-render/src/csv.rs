//! CSV (RFC 4180): a header row of column names, then one line per row, CRLF line ends;
//! fields holding a comma, a quote, CR or LF are quoted with quotes doubled.
//!
//! One table gives `<base>.csv`. The number of tables is not known in advance, so the
//! first table is streamed to a temporary `<base>.csv.part`; when a second table begins,
//! a `<base>.zip` is started, the first file is copied into it as `<name>.csv` and every
//! later table is streamed straight into its own zip entry (deflate). Nothing is held in
//! memory beyond one line.
//!
//! Cells are written as-is: a text starting with `=`, `+`, `-` or `@` is *not* escaped
//! against spreadsheet formula injection, so that the file round-trips exactly. Whoever
//! opens untrusted exports in a spreadsheet should use the XLSX format, whose text cells
//! are never formulas.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Timelike, Utc};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::output::{close, safe_base_name, PartFile};
use crate::protocol::Protocol;
use crate::text::push_exact;
use crate::{Cell, Chart, Format, RenderError, RenderedFile, Row, Sink, TableSpec};

/// The MIME type of the zip written for several tables.
const ZIP_CONTENT_TYPE: &str = "application/zip";

/// Where the lines go.
enum Output {
    /// No table has begun.
    Empty,
    /// The first (so far only) table, in `<base>.csv.part`.
    Single {
        part: PartFile,
        writer: BufWriter<File>,
        table: String,
    },
    /// Several tables: the zip, with the current entry open.
    Zip {
        part: PartFile,
        zip: Box<ZipWriter<BufWriter<File>>>,
    },
}

/// The CSV sink.
pub(crate) struct CsvSink {
    dir: PathBuf,
    base: String,
    modified: zip::DateTime,
    protocol: Protocol,
    out: Output,
    line: String,
}

impl CsvSink {
    /// A CSV sink writing `<base>.csv` (or `.zip`) into `dir`.
    pub(crate) fn new(dir: &Path, base: &str, generated_at: DateTime<Utc>) -> Self {
        CsvSink {
            dir: dir.to_path_buf(),
            base: base.to_owned(),
            modified: zip_time(generated_at),
            protocol: Protocol::new(),
            out: Output::Empty,
            line: String::new(),
        }
    }

    fn entry_options(&self) -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(true)
            .last_modified_time(self.modified)
    }

    /// Moves the single table's file into a new zip, leaving the zip ready for the next
    /// entry.
    fn start_zip(&mut self) -> Result<(), RenderError> {
        let Output::Single {
            part,
            writer,
            table,
        } = std::mem::replace(&mut self.out, Output::Empty)
        else {
            return Ok(());
        };
        close(writer)?;
        let zip_part = PartFile::new(&self.dir, format!("{}.zip", self.base));
        let mut zip = ZipWriter::new(zip_part.create()?);
        zip.start_file(entry_name(&table), self.entry_options())?;
        let mut first = BufReader::new(File::open(part.part_path())?);
        io::copy(&mut first, &mut zip)?;
        fs::remove_file(part.part_path())?;
        self.out = Output::Zip {
            part: zip_part,
            zip: Box::new(zip),
        };
        Ok(())
    }

    fn write_line(&mut self) -> Result<(), RenderError> {
        let bytes = self.line.as_bytes();
        match &mut self.out {
            Output::Single { writer, .. } => writer.write_all(bytes)?,
            Output::Zip { zip, .. } => zip.write_all(bytes)?,
            Output::Empty => return Err(RenderError::Protocol("row outside a table".into())),
        }
        Ok(())
    }
}

impl Sink for CsvSink {
    fn chart(&mut self, _chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()
    }

    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        match &self.out {
            Output::Empty => {
                let part = PartFile::new(&self.dir, format!("{}.csv", self.base));
                let writer = part.create()?;
                self.out = Output::Single {
                    part,
                    writer,
                    table: table.name.clone(),
                };
            }
            Output::Single { .. } => {
                self.start_zip()?;
                self.begin_entry(table)?;
            }
            Output::Zip { .. } => self.begin_entry(table)?,
        }
        self.line.clear();
        for (i, column) in table.columns.iter().enumerate() {
            push_separator(&mut self.line, i);
            push_field(&mut self.line, &column.name);
        }
        self.line.push_str("\r\n");
        self.write_line()
    }

    fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        self.line.clear();
        let mut field = String::new();
        for (i, cell) in row.cells.iter().enumerate() {
            push_separator(&mut self.line, i);
            if let Cell::Text(text) = cell {
                push_field(&mut self.line, text);
            } else {
                field.clear();
                push_exact(&mut field, cell);
                push_field(&mut self.line, &field);
            }
        }
        self.line.push_str("\r\n");
        self.write_line()
    }

    fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()
    }

    fn finish(self: Box<Self>) -> Result<RenderedFile, RenderError> {
        self.protocol.finish()?;
        match self.out {
            Output::Empty => {
                let part = PartFile::new(&self.dir, format!("{}.csv", self.base));
                close(part.create()?)?;
                part.commit(Format::Csv, Format::Csv.content_type())
            }
            Output::Single { part, writer, .. } => {
                close(writer)?;
                part.commit(Format::Csv, Format::Csv.content_type())
            }
            Output::Zip { part, zip } => {
                close(zip.finish()?)?;
                part.commit(Format::Csv, ZIP_CONTENT_TYPE)
            }
        }
    }
}

impl CsvSink {
    fn begin_entry(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        let options = self.entry_options();
        if let Output::Zip { zip, .. } = &mut self.out {
            zip.start_file(entry_name(&table.name), options)?;
        }
        Ok(())
    }
}

/// The zip entry of a table: its machine name made file-name safe, plus `.csv`.
fn entry_name(table: &str) -> String {
    format!("{}.csv", safe_base_name(table))
}

fn push_separator(line: &mut String, index: usize) {
    if index > 0 {
        line.push(',');
    }
}

/// Appends one field, quoted when it holds a comma, quote, CR or LF.
fn push_field(line: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        line.push('"');
        line.push_str(&value.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(value);
    }
}

/// The zip timestamp of the entries (zip time starts in 1980; out of range: 1980).
fn zip_time(t: DateTime<Utc>) -> zip::DateTime {
    let date = t.date_naive();
    let (Ok(year), Ok(month), Ok(day)) = (
        u16::try_from(date.year()),
        u8::try_from(date.month()),
        u8::try_from(date.day()),
    ) else {
        return zip::DateTime::default();
    };
    let time = t.time();
    zip::DateTime::from_date_and_time(
        year,
        month,
        day,
        u8::try_from(time.hour()).unwrap_or(0),
        u8::try_from(time.minute()).unwrap_or(0),
        u8::try_from(time.second()).unwrap_or(0),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::push_field;

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_field(&mut s, "a \"b\", c");
        assert_eq!(s, "\"a \"\"b\"\", c\"");
        s.clear();
        push_field(&mut s, "plain");
        assert_eq!(s, "plain");
    }
}
