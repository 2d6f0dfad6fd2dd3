//! One page's drawing: text in the standard fonts, filled rectangles and lines, in PDF
//! points with the origin at the bottom left.

use pdf_writer::{Content, Name, Str};

use super::fonts::Font;

/// A4 landscape width and height, in points.
pub(crate) const PAGE_WIDTH: f32 = 841.89;
pub(crate) const PAGE_HEIGHT: f32 = 595.28;
/// The margin on every side.
pub(crate) const MARGIN: f32 = 36.0;
/// The lowest y content may reach (the footer sits below).
pub(crate) const BOTTOM: f32 = MARGIN + 14.0;
/// The usable width.
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

/// An RGB colour with components in 0..1.
pub(crate) type Rgb = (f32, f32, f32);

/// Text colour.
pub(crate) const INK: Rgb = (0.12, 0.16, 0.22);
/// Secondary text colour.
pub(crate) const MUTED: Rgb = (0.42, 0.45, 0.50);
/// Grid line colour.
pub(crate) const GRID: Rgb = (0.88, 0.90, 0.93);

/// A palette colour as [`Rgb`].
pub(crate) fn rgb((r, g, b): (u8, u8, u8)) -> Rgb {
    (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    )
}

/// Horizontal text alignment relative to the given x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// A page being drawn.
pub(crate) struct Canvas {
    content: Content,
    /// The page number, from 1.
    pub(crate) number: u32,
    /// The layout cursor: the top of the free space.
    pub(crate) y: f32,
}

impl Canvas {
    /// An empty page.
    pub(crate) fn new(number: u32) -> Self {
        Canvas {
            content: Content::new(),
            number,
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    /// Room left above [`BOTTOM`].
    pub(crate) fn room(&self) -> f32 {
        self.y - BOTTOM
    }

    /// Draws `text` with its baseline at `y`, cut with an ellipsis to `max` points wide.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn text(
        &mut self,
        font: Font,
        size: f32,
        (x, y): (f32, f32),
        align: Align,
        max: f32,
        text: &str,
        color: Rgb,
    ) {
        let bytes = font.fit(text, size, max);
        let width = font.width(&bytes, size);
        let x = match align {
            Align::Left => x,
            Align::Center => x - width / 2.0,
            Align::Right => x - width,
        };
        self.content.set_fill_rgb(color.0, color.1, color.2);
        self.content.begin_text();
        self.content.set_font(Name(font.resource()), size);
        self.content.next_line(x, y);
        self.content.show(Str(&bytes));
        self.content.end_text();
    }

    /// Fills a rectangle whose bottom-left corner is `(x, y)`.
    pub(crate) fn fill_rect(&mut self, x: f32, y: f32, width: f32, height: f32, color: Rgb) {
        self.content.set_fill_rgb(color.0, color.1, color.2);
        self.content.rect(x, y, width, height);
        self.content.fill_nonzero();
    }

    /// Strokes a polyline.
    pub(crate) fn polyline(&mut self, points: &[(f32, f32)], width: f32, color: Rgb) {
        let Some((&(x0, y0), rest)) = points.split_first() else {
            return;
        };
        self.content.set_stroke_rgb(color.0, color.1, color.2);
        self.content.set_line_width(width);
        self.content.move_to(x0, y0);
        for &(x, y) in rest {
            self.content.line_to(x, y);
        }
        self.content.stroke();
    }

    /// Strokes a straight line.
    pub(crate) fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, color: Rgb) {
        self.polyline(&[from, to], width, color);
    }

    /// The page's content stream, uncompressed.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.content.finish().into_vec()
    }
}
