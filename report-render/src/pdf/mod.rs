//! PDF: A4 landscape pages with the report header (title, tenant, kind, as of,
//! generation time, time zone, parameters), the charts as vector graphics, then the
//! tables, paginated with the table title and header row repeated on each page and
//! "Page N" in every footer.
//!
//! Text uses the standard Helvetica and Helvetica-Bold fonts (no font file embedded) in
//! WinAnsiEncoding: characters outside it print as `?`. Cell text is measured with the
//! fonts' AFM widths and cut with an ellipsis to its column.
//!
//! Memory stays bounded: only the current page's drawing is held; each finished page is
//! compressed and written to the file at once (see [`file`]), and only the object
//! offsets and page ids are kept for the cross-reference table and page tree written at
//! the end.

mod canvas;
mod charts;
mod file;
mod fonts;
mod table;

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Datelike, Timelike, Utc};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use pdf_writer::writers::{Catalog, DocumentInfo};
use pdf_writer::{Date, Filter, Name, Rect, Ref, TextStr};

use self::canvas::{Align, Canvas, CONTENT_WIDTH, MARGIN, MUTED, PAGE_HEIGHT, PAGE_WIDTH};
use self::file::ObjectWriter;
use self::fonts::Font;
use self::table::TableLayout;
use crate::output::{close, PartFile};
use crate::protocol::Protocol;
use crate::text::{human_as_of, human_time};
use crate::{Chart, Format, Meta, RenderError, RenderedFile, Row, Sink, TableSpec};

/// Objects whose ids are fixed up front.
struct Ids {
    catalog: Ref,
    pages: Ref,
    regular: Ref,
    bold: Ref,
    info: Ref,
}

/// The PDF sink.
pub(crate) struct PdfSink {
    part: PartFile,
    writer: ObjectWriter,
    ids: Ids,
    page_ids: Vec<Ref>,
    canvas: Canvas,
    table: Option<TableLayout>,
    protocol: Protocol,
    footer: String,
}

impl PdfSink {
    /// Starts `<base>.pdf` in `dir` and draws the report header on page 1.
    pub(crate) fn new(meta: &Meta, dir: &Path, base: &str) -> Result<Self, RenderError> {
        let part = PartFile::new(dir, format!("{base}.pdf"));
        let mut writer = ObjectWriter::new(part.create()?)?;
        let ids = Ids {
            catalog: writer.reserve(),
            pages: writer.reserve(),
            regular: writer.reserve(),
            bold: writer.reserve(),
            info: writer.reserve(),
        };
        write_fixed_objects(&mut writer, &ids, meta)?;
        let mut sink = PdfSink {
            part,
            writer,
            ids,
            page_ids: Vec::new(),
            canvas: Canvas::new(1),
            table: None,
            protocol: Protocol::new(),
            footer: format!("{} · {}", meta.title, meta.tenant),
        };
        sink.draw_header(meta)?;
        Ok(sink)
    }

    /// Title, tenant and facts at the top of the first page.
    fn draw_header(&mut self, meta: &Meta) -> Result<(), RenderError> {
        let c = &mut self.canvas;
        c.text(
            Font::Bold,
            20.0,
            (MARGIN, c.y - 20.0),
            Align::Left,
            CONTENT_WIDTH,
            &meta.title,
            canvas::INK,
        );
        c.y -= 28.0;
        let sub = format!("{} · {}", meta.tenant, meta.kind);
        c.text(
            Font::Regular,
            11.0,
            (MARGIN, c.y - 11.0),
            Align::Left,
            CONTENT_WIDTH,
            &sub,
            MUTED,
        );
        c.y -= 22.0;
        let facts = [
            ("Data as of".to_owned(), human_as_of(meta.as_of.as_ref())),
            ("Generated".to_owned(), human_time(&meta.generated_at)),
            ("Time zone".to_owned(), meta.timezone.clone()),
        ];
        for (key, value) in facts.into_iter().chain(meta.parameters.iter().cloned()) {
            self.ensure_room(13.0)?;
            let c = &mut self.canvas;
            c.text(
                Font::Bold,
                9.0,
                (MARGIN, c.y - 9.0),
                Align::Left,
                140.0,
                &key,
                MUTED,
            );
            c.text(
                Font::Regular,
                9.0,
                (MARGIN + 150.0, c.y - 9.0),
                Align::Left,
                CONTENT_WIDTH - 150.0,
                &value,
                canvas::INK,
            );
            c.y -= 13.0;
        }
        let c = &mut self.canvas;
        c.y -= 6.0;
        c.line(
            (MARGIN, c.y),
            (MARGIN + CONTENT_WIDTH, c.y),
            1.5,
            canvas::rgb(crate::chart::color(0)),
        );
        c.y -= 14.0;
        Ok(())
    }

    /// Starts a new page when less than `height` points are left.
    fn ensure_room(&mut self, height: f32) -> Result<bool, RenderError> {
        if self.canvas.room() >= height {
            return Ok(false);
        }
        self.new_page()?;
        Ok(true)
    }

    /// Writes the current page and starts the next.
    fn new_page(&mut self) -> Result<(), RenderError> {
        let next = Canvas::new(self.canvas.number + 1);
        let done = std::mem::replace(&mut self.canvas, next);
        self.write_page(done)
    }

    /// Draws the footer of `page`, compresses its content and writes its objects.
    fn write_page(&mut self, mut page: Canvas) -> Result<(), RenderError> {
        let number = format!("Page {}", page.number);
        page.text(
            Font::Regular,
            8.0,
            (MARGIN, MARGIN - 8.0),
            Align::Left,
            CONTENT_WIDTH - 80.0,
            &self.footer,
            MUTED,
        );
        page.text(
            Font::Regular,
            8.0,
            (PAGE_WIDTH - MARGIN, MARGIN - 8.0),
            Align::Right,
            80.0,
            &number,
            MUTED,
        );
        let content = deflate(&page.finish())?;
        let (page_id, content_id) = (self.writer.reserve(), self.writer.reserve());
        self.writer.object(content_id, |chunk| {
            chunk
                .stream(content_id, &content)
                .filter(Filter::FlateDecode);
        })?;
        let (parent, regular, bold) = (self.ids.pages, self.ids.regular, self.ids.bold);
        self.writer.object(page_id, |chunk| {
            let mut page = chunk.page(page_id);
            page.parent(parent)
                .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
                .contents(content_id);
            page.resources()
                .fonts()
                .pair(Name(Font::Regular.resource()), regular)
                .pair(Name(Font::Bold.resource()), bold);
        })?;
        self.page_ids.push(page_id);
        Ok(())
    }
}

/// Catalog, fonts and document information.
fn write_fixed_objects(
    writer: &mut ObjectWriter,
    ids: &Ids,
    meta: &Meta,
) -> Result<(), RenderError> {
    let pages = ids.pages;
    writer.object(ids.catalog, |chunk| {
        chunk.indirect(ids.catalog).start::<Catalog>().pages(pages);
    })?;
    for (id, font) in [(ids.regular, Font::Regular), (ids.bold, Font::Bold)] {
        writer.object(id, |chunk| {
            chunk
                .type1_font(id)
                .base_font(Name(font.base_font()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        })?;
    }
    writer.object(ids.info, |chunk| {
        let mut info = chunk.indirect(ids.info).start::<DocumentInfo>();
        info.title(TextStr(&meta.title))
            .producer(TextStr("report-render"));
        info.creation_date(pdf_date(meta.generated_at));
    })
}

/// A PDF date in UTC.
fn pdf_date(t: DateTime<Utc>) -> Date {
    let part = |v: u32| u8::try_from(v).unwrap_or(0);
    Date::new(u16::try_from(t.year()).unwrap_or(1970))
        .month(part(t.month()))
        .day(part(t.day()))
        .hour(part(t.hour()))
        .minute(part(t.minute()))
        .second(part(t.second()))
        .utc_offset_hour(0)
}

/// zlib-compresses a content stream (`/FlateDecode`).
fn deflate(data: &[u8]) -> Result<Vec<u8>, RenderError> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 3), Compression::fast());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

impl Sink for PdfSink {
    fn chart(&mut self, chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()?;
        let height = charts::height(chart, CONTENT_WIDTH);
        self.ensure_room(height)?;
        let top = self.canvas.y;
        charts::draw(&mut self.canvas, chart, MARGIN, top, CONTENT_WIDTH);
        self.canvas.y -= height + 10.0;
        Ok(())
    }

    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        let layout = TableLayout::new(table);
        self.ensure_room(layout.height_with(3))?;
        layout.draw_top(&mut self.canvas, false);
        self.table = Some(layout);
        Ok(())
    }

    fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        let Some(mut layout) = self.table.take() else {
            return Err(RenderError::Protocol("row outside a table".into()));
        };
        if self.canvas.room() < layout.row_height {
            self.new_page()?;
            layout.draw_top(&mut self.canvas, true);
        }
        layout.draw_row(&mut self.canvas, &row.cells);
        self.table = Some(layout);
        Ok(())
    }

    fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()?;
        if let Some(layout) = self.table.take() {
            if layout.rows == 0 {
                layout.draw_empty(&mut self.canvas);
            }
            let count = format!(
                "{} {}",
                layout.rows,
                if layout.rows == 1 { "row" } else { "rows" }
            );
            self.ensure_room(12.0)?;
            let c = &mut self.canvas;
            c.text(
                Font::Regular,
                8.0,
                (MARGIN, c.y - 10.0),
                Align::Left,
                CONTENT_WIDTH,
                &count,
                MUTED,
            );
            c.y -= 24.0;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<RenderedFile, RenderError> {
        self.protocol.finish()?;
        let last = std::mem::replace(&mut self.canvas, Canvas::new(0));
        self.write_page(last)?;
        let PdfSink {
            part,
            mut writer,
            ids,
            page_ids,
            ..
        } = *self;
        let count = i32::try_from(page_ids.len()).unwrap_or(i32::MAX);
        writer.object(ids.pages, |chunk| {
            chunk
                .pages(ids.pages)
                .kids(page_ids.iter().copied())
                .count(count);
        })?;
        close(writer.finish(ids.catalog, ids.info)?)?;
        part.commit(Format::Pdf, Format::Pdf.content_type())
    }
}
