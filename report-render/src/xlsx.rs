//! XLSX: a workbook written with `rust_xlsxwriter` in constant-memory mode (each sheet's
//! rows go to a temporary file in the output directory as they are written; only the
//! current row is in memory).
//!
//! Sheets: "Summary" (title, tenant, kind, time zone, as of, generated at, parameters),
//! then one sheet per table named after the table's title (Excel rules: at most 31
//! characters, none of `[]:*?/\`, unique). The header row is bold and frozen. Cells are
//! typed: numbers as numbers (percentages as-is, 0..100, with format `0.00`), instants as
//! Excel date-times `yyyy-mm-dd hh:mm:ss` in UTC, dates as `yyyy-mm-dd`, booleans as
//! booleans, `Null` blank. Column widths come from the header and the column type
//! (autofit needs the data in memory). A table with more rows than a sheet holds
//! continues on `<title> (2)`, `<title> (3)`, ... with the header repeated. Charts are
//! not drawn in the workbook.

use std::path::Path;

use rust_xlsxwriter::{Format as Style, Workbook, Worksheet};

use crate::output::PartFile;
use crate::protocol::Protocol;
use crate::text::human_as_of;
use crate::{Cell, Chart, ColumnType, Format, Meta, RenderError, RenderedFile, Row, Sink};
use crate::{Column, TableSpec};

/// Data rows per sheet: Excel's 1,048,576 rows less the header.
pub(crate) const MAX_DATA_ROWS: u32 = 1_048_575;
/// Excel's longest cell text.
const MAX_TEXT_CHARS: usize = 32_767;
/// Excel's longest sheet name.
const MAX_SHEET_NAME: usize = 31;

/// The cell styles.
struct Styles {
    header: Style,
    label: Style,
    datetime: Style,
    date: Style,
    percent: Style,
}

impl Styles {
    fn new() -> Self {
        Styles {
            header: Style::new().set_bold().set_background_color(0x00DD_E6F0),
            label: Style::new().set_bold(),
            datetime: Style::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            date: Style::new().set_num_format("yyyy-mm-dd"),
            percent: Style::new().set_num_format("0.00"),
        }
    }
}

/// The table being written.
struct OpenTable {
    columns: Vec<Column>,
    /// Sanitised title, the stem of continuation sheet names.
    title: String,
    sheet: usize,
    /// Next worksheet row (0 is the header).
    next_row: u32,
    /// 1 for the first sheet of the table, 2 for `<title> (2)`, ...
    part: u32,
}

/// The XLSX sink.
pub(crate) struct XlsxSink {
    workbook: Workbook,
    part: PartFile,
    protocol: Protocol,
    styles: Styles,
    table: Option<OpenTable>,
    /// Sheet names in use, lowercased (Excel compares them case-insensitively).
    taken: Vec<String>,
    /// Worksheets added so far.
    sheets: usize,
    max_rows: u32,
}

impl XlsxSink {
    /// Starts `<base>.xlsx` in `dir` and writes the summary sheet.
    pub(crate) fn new(meta: &Meta, dir: &Path, base: &str) -> Result<Self, RenderError> {
        Self::with_sheet_rows(meta, dir, base, MAX_DATA_ROWS)
    }

    /// As [`XlsxSink::new`] with at most `max_rows` data rows per sheet (for tests).
    pub(crate) fn with_sheet_rows(
        meta: &Meta,
        dir: &Path,
        base: &str,
        max_rows: u32,
    ) -> Result<Self, RenderError> {
        let mut workbook = Workbook::new();
        workbook.set_tempdir(dir)?;
        let mut sink = XlsxSink {
            workbook,
            part: PartFile::new(dir, format!("{base}.xlsx")),
            protocol: Protocol::new(),
            styles: Styles::new(),
            table: None,
            taken: Vec::new(),
            sheets: 0,
            max_rows: max_rows.clamp(1, MAX_DATA_ROWS),
        };
        sink.write_summary(meta)?;
        Ok(sink)
    }

    fn add_sheet(&mut self, name: &str) -> Result<usize, RenderError> {
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        self.sheets += 1;
        Ok(self.sheets - 1)
    }

    fn sheet(&mut self, index: usize) -> Result<&mut Worksheet, RenderError> {
        Ok(self.workbook.worksheet_from_index(index)?)
    }

    fn write_summary(&mut self, meta: &Meta) -> Result<(), RenderError> {
        let name = unique_sheet_name("Summary", 1, &mut self.taken);
        let index = self.add_sheet(&name)?;
        let label = self.styles.label.clone();
        let datetime = self.styles.datetime.clone();
        let sheet = self.sheet(index)?;
        sheet.set_column_width(0, 18)?;
        sheet.set_column_width(1, 60)?;
        sheet.write_string_with_format(0, 0, clip(&meta.title), &label)?;
        let fields = [
            ("Tenant", &meta.tenant),
            ("Report", &meta.kind),
            ("Time zone", &meta.timezone),
        ];
        for (row, (key, value)) in (2u32..).zip(fields) {
            sheet.write_string_with_format(row, 0, key, &label)?;
            sheet.write_string(row, 1, clip(value))?;
        }
        sheet.write_string_with_format(5, 0, "As of (UTC)", &label)?;
        match meta.as_of {
            Some(t) => sheet.write_datetime_with_format(5, 1, t.naive_utc(), &datetime)?,
            None => sheet.write_string(5, 1, human_as_of(None))?,
        };
        sheet.write_string_with_format(6, 0, "Generated (UTC)", &label)?;
        sheet.write_datetime_with_format(6, 1, meta.generated_at.naive_utc(), &datetime)?;
        if !meta.parameters.is_empty() {
            sheet.write_string_with_format(8, 0, "Parameters", &label)?;
        }
        for (row, (key, value)) in (9u32..).zip(&meta.parameters) {
            sheet.write_string(row, 0, clip(key))?;
            sheet.write_string(row, 1, clip(value))?;
        }
        Ok(())
    }

    /// Adds a sheet for part `part` of the open table and writes its header.
    fn start_sheet(
        &mut self,
        title: &str,
        columns: &[Column],
        part: u32,
    ) -> Result<usize, RenderError> {
        let name = unique_sheet_name(title, part, &mut self.taken);
        let index = self.add_sheet(&name)?;
        let header = self.styles.header.clone();
        let sheet = self.sheet(index)?;
        for (col, column) in (0u16..).zip(columns) {
            sheet.set_column_width(col, column_width(column))?;
            sheet.write_string_with_format(0, col, clip(&column.name), &header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(index)
    }

    /// Moves the open table to a new sheet when the current one is full.
    fn ensure_room(&mut self) -> Result<(), RenderError> {
        let Some(table) = self.table.as_mut() else {
            return Err(RenderError::Protocol("row outside a table".into()));
        };
        if table.next_row <= self.max_rows {
            return Ok(());
        }
        table.part += 1;
        let (title, columns, part) = (table.title.clone(), table.columns.clone(), table.part);
        let sheet = self.start_sheet(&title, &columns, part)?;
        if let Some(table) = self.table.as_mut() {
            table.sheet = sheet;
            table.next_row = 1;
        }
        Ok(())
    }
}

impl Sink for XlsxSink {
    fn chart(&mut self, _chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()
    }

    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        if table.columns.len() > usize::from(u16::MAX) {
            return Err(RenderError::Protocol(
                "too many columns for a worksheet".into(),
            ));
        }
        let title = sanitize_sheet_name(if table.title.trim().is_empty() {
            &table.name
        } else {
            &table.title
        });
        let sheet = self.start_sheet(&title, &table.columns, 1)?;
        self.table = Some(OpenTable {
            columns: table.columns.clone(),
            title,
            sheet,
            next_row: 1,
            part: 1,
        });
        Ok(())
    }

    fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        self.ensure_room()?;
        let Some(table) = self.table.as_mut() else {
            return Err(RenderError::Protocol("row outside a table".into()));
        };
        let (index, r) = (table.sheet, table.next_row);
        table.next_row += 1;
        let types: Vec<ColumnType> = table.columns.iter().map(|c| c.ty).collect();
        let styles = &self.styles;
        let sheet = self.workbook.worksheet_from_index(index)?;
        for ((col, cell), ty) in (0u16..).zip(&row.cells).zip(types) {
            write_cell(sheet, r, col, cell, ty, styles)?;
        }
        Ok(())
    }

    fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()?;
        self.table = None;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<RenderedFile, RenderError> {
        self.protocol.finish()?;
        self.workbook.save(self.part.part_path())?;
        let XlsxSink { part, workbook, .. } = *self;
        drop(workbook);
        part.commit(Format::Xlsx, Format::Xlsx.content_type())
    }
}

/// Writes one typed cell.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    ty: ColumnType,
    styles: &Styles,
) -> Result<(), RenderError> {
    let percent = ty == ColumnType::Percent;
    match cell {
        Cell::Null => return Ok(()),
        Cell::Text(s) => sheet.write_string(row, col, clip(s))?,
        Cell::Int(i) if percent => {
            sheet.write_number_with_format(row, col, *i as f64, &styles.percent)?
        }
        Cell::Int(i) => sheet.write_number(row, col, *i as f64)?,
        Cell::Number(n) if percent => {
            sheet.write_number_with_format(row, col, *n, &styles.percent)?
        }
        Cell::Number(n) => sheet.write_number(row, col, *n)?,
        Cell::DateTime(t) => {
            sheet.write_datetime_with_format(row, col, t.naive_utc(), &styles.datetime)?
        }
        Cell::Date(d) => sheet.write_datetime_with_format(row, col, *d, &styles.date)?,
        Cell::Bool(b) => sheet.write_boolean(row, col, *b)?,
    };
    Ok(())
}

/// Cuts text to Excel's cell limit.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A column width (in characters) from its header and type.
fn column_width(column: &Column) -> f64 {
    let by_type = match column.ty {
        ColumnType::Text => 16,
        ColumnType::Integer | ColumnType::Percent => 10,
        ColumnType::Number => 12,
        ColumnType::DateTime => 20,
        ColumnType::Date => 12,
        ColumnType::Bool => 8,
    };
    let header = column.name.chars().count() + 3;
    f64::from(u16::try_from(header.max(by_type).min(50)).unwrap_or(50))
}

/// Replaces the characters Excel forbids in sheet names and trims apostrophes.
fn sanitize_sheet_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| {
            if "[]:*?/\\".contains(c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_matches('\'').trim();
    if cleaned.is_empty() {
        "Sheet".to_owned()
    } else if cleaned.eq_ignore_ascii_case("history") {
        // A reserved name in Excel.
        format!("{cleaned}_")
    } else {
        cleaned.to_owned()
    }
}

/// The first free name among `<stem>` (part 1) or `<stem> (n)` for n ≥ `part`, cut to 31
/// characters, and records it as taken.
fn unique_sheet_name(stem: &str, part: u32, taken: &mut Vec<String>) -> String {
    let candidate = |n: u32| {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!(" ({n})")
        };
        let room = MAX_SHEET_NAME - suffix.chars().count();
        let head: String = stem.chars().take(room).collect();
        format!("{}{suffix}", head.trim_end().trim_end_matches('\''))
    };
    let name = (part.max(1)..=u32::MAX)
        .map(candidate)
        .find(|name| !taken.contains(&name.to_lowercase()))
        .unwrap_or_else(|| stem.chars().take(MAX_SHEET_NAME).collect());
    taken.push(name.to_lowercase());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_follow_excel_rules() {
        let mut taken = Vec::new();
        assert_eq!(unique_sheet_name("Summary", 1, &mut taken), "Summary");
        let long = sanitize_sheet_name("Campaign performance: [all] channels / 2026");
        let first = unique_sheet_name(&long, 1, &mut taken);
        assert_eq!(first, "Campaign performance_ _all_ cha");
        assert_eq!(first.chars().count(), 31);
        let again = unique_sheet_name(&long, 1, &mut taken);
        assert_eq!(again, "Campaign performance_ _all_ (2)");
        assert_eq!(unique_sheet_name("summary", 1, &mut taken), "summary (2)");
        assert_eq!(sanitize_sheet_name("''"), "Sheet");
    }

    #[test]
    fn full_sheets_continue_on_numbered_sheets_with_the_header() {
        use calamine::{open_workbook, Data, Reader, Xlsx};
        use chrono::{TimeZone, Utc};

        let dir =
            std::env::temp_dir().join(format!("report-render-xlsx-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let now = Utc
            .with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
            .single()
            .expect("time");
        let meta = Meta {
            title: "T".into(),
            tenant: "t".into(),
            kind: "k".into(),
            parameters: vec![],
            as_of: None,
            generated_at: now,
            timezone: "UTC".into(),
        };
        let mut sink = Box::new(XlsxSink::with_sheet_rows(&meta, &dir, "split", 3).expect("sink"));
        let spec = TableSpec {
            name: "n".into(),
            title: "Numbers".into(),
            columns: vec![Column::new("N", ColumnType::Integer)],
        };
        sink.begin_table(&spec).expect("begin");
        for i in 0..7 {
            sink.row(&Row {
                cells: vec![Cell::Int(i)],
                json: serde_json::Value::Null,
            })
            .expect("row");
        }
        sink.end_table().expect("end");
        let file = sink.finish().expect("finish");
        let mut book: Xlsx<_> = open_workbook(&file.path).expect("open");
        assert_eq!(
            book.sheet_names(),
            ["Summary", "Numbers", "Numbers (2)", "Numbers (3)"]
        );
        let last = book.worksheet_range("Numbers (3)").expect("sheet");
        assert_eq!(last.get((0, 0)), Some(&Data::String("N".into())));
        assert_eq!(last.get((1, 0)), Some(&Data::Float(6.0)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
