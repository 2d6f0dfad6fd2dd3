//! Table layout in the PDF: column widths from the column types and header widths scaled
//! to the page, a font size chosen by the number of columns (wide tables get smaller
//! text), cell text measured with Helvetica's AFM widths and cut with an ellipsis to its
//! column, numbers right-aligned.

use super::canvas::{Align, Canvas, Rgb, CONTENT_WIDTH, GRID, INK, MARGIN, MUTED};
use super::fonts::{encode, Font};
use crate::text::human;
use crate::{Cell, Column, ColumnType, TableSpec};

/// Horizontal padding inside a cell.
const PAD: f32 = 3.0;
/// The header row's background.
const HEADER_FILL: Rgb = (0.87, 0.90, 0.94);
/// Every other row's background.
const ZEBRA_FILL: Rgb = (0.97, 0.98, 0.99);
/// Height of the table title line.
pub(crate) const TITLE_HEIGHT: f32 = 22.0;

/// How one table is drawn.
pub(crate) struct TableLayout {
    title: String,
    columns: Vec<Column>,
    widths: Vec<f32>,
    /// The sum of the widths.
    width: f32,
    size: f32,
    /// Row pitch.
    pub(crate) row_height: f32,
    /// Rows drawn so far.
    pub(crate) rows: u64,
}

impl TableLayout {
    /// Lays out `spec` across the page width.
    pub(crate) fn new(spec: &TableSpec) -> Self {
        let size = match spec.columns.len() {
            0..=6 => 9.0,
            7..=10 => 8.0,
            11..=14 => 7.0,
            _ => 6.0,
        };
        let title = if spec.title.trim().is_empty() {
            spec.name.clone()
        } else {
            spec.title.clone()
        };
        let widths = widths(&spec.columns, size);
        TableLayout {
            title,
            width: widths.iter().sum(),
            widths,
            columns: spec.columns.clone(),
            size,
            row_height: size * 1.7,
            rows: 0,
        }
    }

    /// The height of the title, the header and `rows` rows.
    pub(crate) fn height_with(&self, rows: u16) -> f32 {
        TITLE_HEIGHT + self.row_height * (1.0 + f32::from(rows))
    }

    /// Draws the title (with "(continued)" on later pages) and the header row.
    pub(crate) fn draw_top(&self, canvas: &mut Canvas, continued: bool) {
        let title = if continued {
            format!("{} (continued)", self.title)
        } else {
            self.title.clone()
        };
        canvas.text(
            Font::Bold,
            12.0,
            (MARGIN, canvas.y - 14.0),
            Align::Left,
            CONTENT_WIDTH,
            &title,
            INK,
        );
        canvas.y -= TITLE_HEIGHT;
        canvas.fill_rect(
            MARGIN,
            canvas.y - self.row_height,
            self.width,
            self.row_height,
            HEADER_FILL,
        );
        let headers: Vec<(&str, ColumnType)> = self
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty))
            .collect();
        self.draw_cells(
            canvas,
            Font::Bold,
            headers.into_iter().map(|(name, ty)| (name.to_owned(), ty)),
        );
    }

    /// Draws one data row.
    pub(crate) fn draw_row(&mut self, canvas: &mut Canvas, cells: &[Cell]) {
        if self.rows % 2 == 1 {
            canvas.fill_rect(
                MARGIN,
                canvas.y - self.row_height,
                self.width,
                self.row_height,
                ZEBRA_FILL,
            );
        }
        let texts = cells
            .iter()
            .zip(&self.columns)
            .map(|(cell, column)| (human(cell, column.ty), column.ty));
        self.draw_cells(canvas, Font::Regular, texts);
        self.rows += 1;
    }

    /// Writes "No rows." under an empty table's header.
    pub(crate) fn draw_empty(&self, canvas: &mut Canvas) {
        let y = canvas.y - self.row_height + self.size * 0.5;
        canvas.text(
            Font::Regular,
            self.size,
            (MARGIN + PAD, y),
            Align::Left,
            CONTENT_WIDTH,
            "No rows.",
            MUTED,
        );
        canvas.y -= self.row_height;
    }

    fn draw_cells(
        &self,
        canvas: &mut Canvas,
        font: Font,
        cells: impl Iterator<Item = (String, ColumnType)>,
    ) {
        let baseline = canvas.y - self.row_height + self.size * 0.55;
        let mut x = MARGIN;
        for ((text, ty), &width) in cells.zip(&self.widths) {
            let max = (width - 2.0 * PAD).max(0.0);
            if ty.is_numeric() {
                canvas.text(
                    font,
                    self.size,
                    (x + width - PAD, baseline),
                    Align::Right,
                    max,
                    &text,
                    INK,
                );
            } else {
                canvas.text(
                    font,
                    self.size,
                    (x + PAD, baseline),
                    Align::Left,
                    max,
                    &text,
                    INK,
                );
            }
            x += width;
        }
        canvas.y -= self.row_height;
        canvas.line(
            (MARGIN, canvas.y),
            (MARGIN + self.width, canvas.y),
            0.4,
            GRID,
        );
    }
}

/// Relative width of a column type (in units of about 40 pt at 9 pt text).
fn weight(ty: ColumnType) -> f32 {
    match ty {
        ColumnType::Text => 3.0,
        ColumnType::DateTime => 2.6,
        ColumnType::Date => 1.5,
        ColumnType::Number => 1.4,
        ColumnType::Integer | ColumnType::Percent => 1.2,
        ColumnType::Bool => 0.8,
    }
}

/// How much wider than wanted columns may grow to fill the page (narrow tables stay
/// narrower than the page).
const MAX_STRETCH: f32 = 1.6;

/// Column widths: the larger of the type's share and the bold header's width, scaled
/// together to the page width (shrunk to fit, or stretched at most [`MAX_STRETCH`]).
fn widths(columns: &[Column], size: f32) -> Vec<f32> {
    let unit = 40.0 * size / 9.0;
    let wanted: Vec<f32> = columns
        .iter()
        .map(|c| (weight(c.ty) * unit).max(Font::Bold.width(&encode(&c.name), size) + 2.0 * PAD))
        .collect();
    let total: f32 = wanted.iter().sum();
    if total <= 0.0 {
        return wanted;
    }
    let scale = (CONTENT_WIDTH / total).min(MAX_STRETCH);
    wanted.iter().map(|w| w * scale).collect()
}
