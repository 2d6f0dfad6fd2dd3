//! JSON: the report envelope with the API's JSON rows, streamed:
//!
//! ```json
//! {"title": "...", "tenant": "...", "kind": "...", "parameters": {"k": "v"},
//!  "as_of": "2026-11-01T10:00:00Z" | null, "generated_at": "...", "timezone": "...",
//!  "tables": {"campaigns": [{...}, {...}], "journeys": [...]}}
//! ```
//!
//! Each row's `json` value is serialised straight to the file; no array is built.
//! Instants are RFC 3339 UTC (`Z`), like the API's.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::output::{close, PartFile};
use crate::protocol::Protocol;
use crate::{Chart, Format, Meta, RenderError, RenderedFile, Row, Sink, TableSpec};

/// The JSON sink.
pub(crate) struct JsonSink {
    part: PartFile,
    writer: BufWriter<File>,
    protocol: Protocol,
    /// Rows written in the open table (for the commas).
    rows: u64,
}

impl JsonSink {
    /// Starts `<base>.json` in `dir` and writes the envelope up to `"tables":{`.
    pub(crate) fn new(meta: &Meta, dir: &Path, base: &str) -> Result<Self, RenderError> {
        let part = PartFile::new(dir, format!("{base}.json"));
        let mut writer = part.create()?;
        write_envelope(&mut writer, meta)?;
        Ok(JsonSink {
            part,
            writer,
            protocol: Protocol::new(),
            rows: 0,
        })
    }
}

fn write_envelope(w: &mut impl Write, meta: &Meta) -> Result<(), RenderError> {
    w.write_all(b"{\"title\":")?;
    serde_json::to_writer(&mut *w, &meta.title)?;
    w.write_all(b",\"tenant\":")?;
    serde_json::to_writer(&mut *w, &meta.tenant)?;
    w.write_all(b",\"kind\":")?;
    serde_json::to_writer(&mut *w, &meta.kind)?;
    w.write_all(b",\"parameters\":{")?;
    for (i, (key, value)) in meta.parameters.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut *w, key)?;
        w.write_all(b":")?;
        serde_json::to_writer(&mut *w, value)?;
    }
    w.write_all(b"},\"as_of\":")?;
    serde_json::to_writer(&mut *w, &meta.as_of.map(rfc3339))?;
    w.write_all(b",\"generated_at\":")?;
    serde_json::to_writer(&mut *w, &rfc3339(meta.generated_at))?;
    w.write_all(b",\"timezone\":")?;
    serde_json::to_writer(&mut *w, &meta.timezone)?;
    w.write_all(b",\"tables\":{")?;
    Ok(())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Sink for JsonSink {
    fn chart(&mut self, _chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()
    }

    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        if self.protocol.tables() > 1 {
            self.writer.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.writer, &table.name)?;
        self.writer.write_all(b":[")?;
        self.rows = 0;
        Ok(())
    }

    fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        if self.rows > 0 {
            self.writer.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.writer, &row.json)?;
        self.rows += 1;
        Ok(())
    }

    fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()?;
        self.writer.write_all(b"]")?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<RenderedFile, RenderError> {
        self.protocol.finish()?;
        self.writer.write_all(b"}}\n")?;
        let JsonSink { part, writer, .. } = *self;
        close(writer)?;
        part.commit(Format::Json, Format::Json.content_type())
    }
}
