//! One pass over the data feeding several formats.

use std::path::Path;

use crate::protocol::Protocol;
use crate::{sink, Chart, Format, Meta, RenderError, RenderedFile, Row, Sink, TableSpec};

/// Several sinks fed together: every call is checked once against the protocol, then
/// forwarded to each sink in order.
pub struct Fanout {
    sinks: Vec<Box<dyn Sink>>,
    protocol: Protocol,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Fanout {
    /// Feeds the given sinks.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Fanout {
            sinks,
            protocol: Protocol::new(),
        }
    }

    /// Starts one sink per format (duplicates are ignored), all named `<base_name>.<ext>`
    /// in `dir`.
    pub fn create(
        formats: &[Format],
        meta: &Meta,
        dir: &Path,
        base_name: &str,
    ) -> Result<Self, RenderError> {
        let mut seen = Vec::new();
        let mut sinks = Vec::new();
        for &format in formats {
            if !seen.contains(&format) {
                seen.push(format);
                sinks.push(sink(format, meta, dir, base_name)?);
            }
        }
        Ok(Fanout::new(sinks))
    }

    /// Adds a chart to every sink.
    pub fn chart(&mut self, chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()?;
        self.sinks.iter_mut().try_for_each(|s| s.chart(chart))
    }

    /// Starts a table in every sink.
    pub fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        self.sinks.iter_mut().try_for_each(|s| s.begin_table(table))
    }

    /// Writes a row to every sink.
    pub fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        self.sinks.iter_mut().try_for_each(|s| s.row(row))
    }

    /// Ends the open table in every sink.
    pub fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()?;
        self.sinks.iter_mut().try_for_each(|s| s.end_table())
    }

    /// Finishes every sink; the files in the order of the sinks.
    pub fn finish(self) -> Result<Vec<RenderedFile>, RenderError> {
        self.protocol.finish()?;
        self.sinks.into_iter().map(|s| s.finish()).collect()
    }
}
