//! The call-order contract shared by every sink: charts first, then tables one at a
//! time, each row with exactly one cell per column.

use std::collections::HashSet;

use crate::{RenderError, Row, TableSpec};

/// Where a sink is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before any table: charts are allowed.
    Charts,
    /// Inside a table with this many columns.
    InTable(usize),
    /// Between tables (at least one table ended).
    BetweenTables,
}

/// Checks the order of sink calls and the shape of rows.
#[derive(Debug)]
pub(crate) struct Protocol {
    stage: Stage,
    names: HashSet<String>,
    tables: usize,
}

impl Protocol {
    /// A checker at the start of a document.
    pub(crate) fn new() -> Self {
        Protocol {
            stage: Stage::Charts,
            names: HashSet::new(),
            tables: 0,
        }
    }

    /// How many tables have begun so far.
    pub(crate) fn tables(&self) -> usize {
        self.tables
    }

    /// A chart may only come before the first table.
    pub(crate) fn chart(&mut self) -> Result<(), RenderError> {
        match self.stage {
            Stage::Charts => Ok(()),
            _ => Err(violation("chart after the first table")),
        }
    }

    /// A table may begin when no table is open; its name must be new and non-empty.
    pub(crate) fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        if let Stage::InTable(_) = self.stage {
            return Err(violation("begin_table while a table is open"));
        }
        if table.name.trim().is_empty() {
            return Err(violation("table name is empty"));
        }
        if !self.names.insert(table.name.clone()) {
            return Err(violation(&format!(
                "table name {:?} used twice",
                table.name
            )));
        }
        self.stage = Stage::InTable(table.columns.len());
        self.tables += 1;
        Ok(())
    }

    /// A row needs an open table and exactly one cell per column.
    pub(crate) fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        match self.stage {
            Stage::InTable(n) if n == row.cells.len() => Ok(()),
            Stage::InTable(n) => Err(violation(&format!(
                "row has {} cells, the table has {n} columns",
                row.cells.len()
            ))),
            _ => Err(violation("row outside a table")),
        }
    }

    /// Ends the open table.
    pub(crate) fn end_table(&mut self) -> Result<(), RenderError> {
        match self.stage {
            Stage::InTable(_) => {
                self.stage = Stage::BetweenTables;
                Ok(())
            }
            _ => Err(violation("end_table without an open table")),
        }
    }

    /// The document may finish when no table is open.
    pub(crate) fn finish(&self) -> Result<(), RenderError> {
        match self.stage {
            Stage::InTable(_) => Err(violation("finish while a table is open")),
            _ => Ok(()),
        }
    }
}

fn violation(what: &str) -> RenderError {
    RenderError::Protocol(what.to_owned())
}
