//! HTML: one standalone HTML5 page (inline CSS, inline SVG charts, no scripts, no
//! external assets), streamed to the file: the header (title, tenant, kind, as of,
//! generation time, time zone, parameters), the charts, then each table with a sticky
//! header and right-aligned numbers. All text is escaped.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::output::{close, PartFile};
use crate::protocol::Protocol;
use crate::text::{human, human_as_of, human_time};
use crate::{
    svg, Chart, ColumnType, Format, Meta, RenderError, RenderedFile, Row, Sink, TableSpec,
};

/// The page's style sheet.
const STYLE: &str = "
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--head:#f3f6fa;--accent:#2f6db5}
*{box-sizing:border-box}
body{margin:0;padding:32px 40px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:#fff}
header{border-bottom:3px solid var(--accent);padding-bottom:16px;margin-bottom:24px}
h1{margin:0 0 4px;font-size:26px}
h2{font-size:18px;margin:32px 0 10px}
.sub{margin:0 0 12px;color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 0}
dt{color:var(--muted)}
dd{margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:24px}
figure{margin:0;padding:16px;border:1px solid var(--line);border-radius:8px}
figcaption{font-weight:600;margin-bottom:8px}
svg{width:100%;height:auto;display:block}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:var(--head);position:sticky;top:0;font-weight:600}
tbody tr:nth-child(even){background:#fafbfc}
.num{text-align:right;font-variant-numeric:tabular-nums}
.count,footer{color:var(--muted);font-size:12px}
footer{margin-top:40px;border-top:1px solid var(--line);padding-top:8px}
@media print{body{padding:0}.scroll{overflow:visible;border:0}th{position:static}}
";

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Header written, no chart yet.
    Top,
    /// Inside the charts section.
    Charts,
    /// Past the charts.
    Tables,
}

/// The HTML sink.
pub(crate) struct HtmlSink {
    part: PartFile,
    writer: BufWriter<File>,
    protocol: Protocol,
    at: Part,
    types: Vec<ColumnType>,
    rows: u64,
    generated: String,
}

impl HtmlSink {
    /// Starts `<base>.html` in `dir` and writes the page header.
    pub(crate) fn new(meta: &Meta, dir: &Path, base: &str) -> Result<Self, RenderError> {
        let part = PartFile::new(dir, format!("{base}.html"));
        let mut writer = part.create()?;
        write_head(&mut writer, meta)?;
        Ok(HtmlSink {
            part,
            writer,
            protocol: Protocol::new(),
            at: Part::Top,
            types: Vec::new(),
            rows: 0,
            generated: human_time(&meta.generated_at),
        })
    }

    /// Closes the charts section, if open, and opens `<main>` content for tables.
    fn leave_charts(&mut self) -> Result<(), RenderError> {
        if self.at == Part::Charts {
            self.writer.write_all(b"</section>\n")?;
        }
        self.at = Part::Tables;
        Ok(())
    }
}

fn write_head(w: &mut impl Write, meta: &Meta) -> Result<(), RenderError> {
    let title = escape(&meta.title);
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n\
         <p class=\"sub\">{} · {}</p>\n<dl>\n",
        escape(&meta.tenant),
        escape(&meta.kind)
    )?;
    let as_of = human_as_of(meta.as_of.as_ref());
    let generated = human_time(&meta.generated_at);
    let facts = [
        ("Data as of", as_of.as_str()),
        ("Generated", generated.as_str()),
        ("Time zone", meta.timezone.as_str()),
    ];
    let params = meta
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    for (key, value) in facts.into_iter().chain(params) {
        writeln!(w, "<dt>{}</dt><dd>{}</dd>", escape(key), escape(value))?;
    }
    w.write_all(b"</dl>\n</header>\n<main>\n")?;
    Ok(())
}

impl Sink for HtmlSink {
    fn chart(&mut self, chart: &Chart) -> Result<(), RenderError> {
        self.protocol.chart()?;
        if self.at == Part::Top {
            self.writer.write_all(b"<section class=\"charts\">\n")?;
            self.at = Part::Charts;
        }
        writeln!(
            self.writer,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            escape(chart.title()),
            svg::render(chart)
        )?;
        Ok(())
    }

    fn begin_table(&mut self, table: &TableSpec) -> Result<(), RenderError> {
        self.protocol.begin_table(table)?;
        self.leave_charts()?;
        self.types = table.columns.iter().map(|c| c.ty).collect();
        self.rows = 0;
        let title = if table.title.is_empty() {
            &table.name
        } else {
            &table.title
        };
        write!(
            self.writer,
            "<section id=\"{}\">\n<h2>{}</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr>",
            escape(&table.name),
            escape(title)
        )?;
        for column in &table.columns {
            let class = if column.ty.is_numeric() {
                " class=\"num\""
            } else {
                ""
            };
            write!(self.writer, "<th{class}>{}</th>", escape(&column.name))?;
        }
        self.writer.write_all(b"</tr></thead>\n<tbody>\n")?;
        Ok(())
    }

    fn row(&mut self, row: &Row) -> Result<(), RenderError> {
        self.protocol.row(row)?;
        self.writer.write_all(b"<tr>")?;
        for (cell, &ty) in row.cells.iter().zip(&self.types) {
            let class = if ty.is_numeric() {
                " class=\"num\""
            } else {
                ""
            };
            write!(self.writer, "<td{class}>{}</td>", escape(&human(cell, ty)))?;
        }
        self.writer.write_all(b"</tr>\n")?;
        self.rows += 1;
        Ok(())
    }

    fn end_table(&mut self) -> Result<(), RenderError> {
        self.protocol.end_table()?;
        if self.rows == 0 {
            writeln!(
                self.writer,
                "<tr><td colspan=\"{}\">No rows.</td></tr>",
                self.types.len().max(1)
            )?;
        }
        let noun = if self.rows == 1 { "row" } else { "rows" };
        write!(
            self.writer,
            "</tbody>\n</table>\n</div>\n<p class=\"count\">{} {noun}</p>\n</section>\n",
            self.rows
        )?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<RenderedFile, RenderError> {
        self.protocol.finish()?;
        self.leave_charts()?;
        write!(
            self.writer,
            "</main>\n<footer>Generated {}.</footer>\n</body>\n</html>\n",
            escape(&self.generated)
        )?;
        let HtmlSink { part, writer, .. } = *self;
        close(writer)?;
        part.commit(Format::Html, Format::Html.content_type())
    }
}
