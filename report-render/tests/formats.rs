//! Renders a small document (2 charts, 2 tables) to every format and reads it back.

mod common;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use report_render::{sink, Fanout, Format, RenderError, RenderedFile};

/// A fresh empty directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("report-render-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

const DAILY_ROWS: i64 = 120;

fn render_all(dir: &Path) -> Vec<RenderedFile> {
    let mut out = Fanout::create(&Format::ALL, &meta(), dir, "run-1").expect("sinks");
    for chart in charts() {
        out.chart(&chart).expect("chart");
    }
    out.begin_table(&campaigns_spec()).expect("begin");
    for row in campaign_rows() {
        out.row(&row).expect("row");
    }
    out.end_table().expect("end");
    out.begin_table(&daily_spec()).expect("begin");
    for row in daily_rows(DAILY_ROWS) {
        out.row(&row).expect("row");
    }
    out.end_table().expect("end");
    out.finish().expect("finish")
}

fn file(files: &[RenderedFile], format: Format) -> &RenderedFile {
    files
        .iter()
        .find(|f| f.format == format)
        .expect("file of format")
}

#[test]
fn rendered_files_are_described() {
    let dir = scratch("describe");
    let files = render_all(&dir);
    let names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "run-1.zip",
            "run-1.json",
            "run-1.xlsx",
            "run-1.pdf",
            "run-1.html"
        ]
    );
    for f in &files {
        assert!(f.path.is_file(), "{f:?}");
        assert_eq!(std::fs::metadata(&f.path).expect("metadata").len(), f.size);
        assert!(f.size > 0);
    }
    assert_eq!(file(&files, Format::Csv).content_type, "application/zip");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv record").iter().map(String::from).collect())
        .collect()
}

#[test]
fn csv_zip_holds_one_rfc4180_file_per_table() {
    let dir = scratch("csv");
    let files = render_all(&dir);
    let mut zip = zip::ZipArchive::new(File::open(&file(&files, Format::Csv).path).expect("open"))
        .expect("zip");
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("entry name").into_owned())
        .collect();
    assert_eq!(names, ["campaigns.csv", "daily.csv"]);
    let mut text = String::new();
    zip.by_name("campaigns.csv")
        .expect("entry")
        .read_to_string(&mut text)
        .expect("read");
    assert!(text.starts_with("Campaign,Sent,Revenue,Open rate %,Started,Day,Active\r\n"));
    assert!(text.contains("\"Fish & \"\"Chips\"\" <b>, ok\""));
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[1],
        [
            "Spring sale",
            "10000",
            "1234.5",
            "42.5",
            "2026-11-01T10:00:00.000Z",
            "2026-10-01",
            "true"
        ]
    );
    assert_eq!(rows[2][0], TRICKY);
    assert_eq!(rows[2][2], "0.30000000000000004");
    assert_eq!(rows[2][4], "2026-10-02T08:00:00.123Z");
    assert_eq!(rows[3], ["Multi\nline", "", "", "", "", "", ""]);
    let mut daily = String::new();
    zip.by_name("daily.csv")
        .expect("entry")
        .read_to_string(&mut daily)
        .expect("read");
    let rows = parse_csv(&daily);
    assert_eq!(rows.len(), 1 + DAILY_ROWS as usize);
    assert_eq!(rows[1], ["2026-01-01", "1000", "0"]);
}

#[test]
fn csv_with_one_table_is_a_plain_csv() {
    let dir = scratch("csv-one");
    let mut s = sink(Format::Csv, &meta(), &dir, "one").expect("sink");
    s.begin_table(&daily_spec()).expect("begin");
    for row in daily_rows(3) {
        s.row(&row).expect("row");
    }
    s.end_table().expect("end");
    let f = s.finish().expect("finish");
    assert_eq!(f.file_name, "one.csv");
    assert_eq!(f.content_type, "text/csv; charset=utf-8");
    let text = std::fs::read_to_string(&f.path).expect("read");
    assert_eq!(
        text,
        "Date,Opens,Clicks\r\n2026-01-01,1000,0\r\n2026-01-02,1001,1\r\n2026-01-03,1002,2\r\n"
    );
}

#[test]
fn json_is_the_envelope_with_api_rows() {
    let dir = scratch("json");
    let files = render_all(&dir);
    let value: serde_json::Value =
        serde_json::from_reader(File::open(&file(&files, Format::Json).path).expect("open"))
            .expect("json");
    assert_eq!(value["title"], "Campaign performance");
    assert_eq!(value["tenant"], "acme");
    assert_eq!(value["kind"], "campaign_performance");
    assert_eq!(
        value["parameters"],
        serde_json::json!({"from": "2026-10-01", "to": "2026-10-31"})
    );
    assert_eq!(value["as_of"], "2026-11-01T09:00:00Z");
    assert_eq!(value["generated_at"], "2026-11-01T10:00:00Z");
    assert_eq!(value["timezone"], "Europe/Paris");
    let campaigns: Vec<serde_json::Value> = campaign_rows().into_iter().map(|r| r.json).collect();
    assert_eq!(
        value["tables"]["campaigns"],
        serde_json::Value::Array(campaigns)
    );
    assert_eq!(
        value["tables"]["daily"].as_array().map(Vec::len),
        Some(DAILY_ROWS as usize)
    );
    assert_eq!(value["tables"]["daily"][0]["opens"], 1000);
}

#[test]
fn xlsx_has_typed_cells_and_frozen_headers() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let dir = scratch("xlsx");
    let files = render_all(&dir);
    let path = &file(&files, Format::Xlsx).path;
    let mut book: Xlsx<_> = open_workbook(path).expect("open xlsx");
    assert_eq!(book.sheet_names(), ["Summary", "Campaigns", "Daily totals"]);

    let summary = book.worksheet_range("Summary").expect("summary");
    assert_eq!(
        summary.get((0, 0)),
        Some(&Data::String("Campaign performance".into()))
    );
    let texts: Vec<String> = summary.cells().map(|(_, _, d)| d.to_string()).collect();
    assert!(texts.iter().any(|t| t == "acme"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "2026-10-31"), "{texts:?}");

    let sheet = book.worksheet_range("Campaigns").expect("campaigns");
    let header: Vec<String> = (0..7)
        .map(|c| sheet.get((0, c)).map(|d| d.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(
        header,
        [
            "Campaign",
            "Sent",
            "Revenue",
            "Open rate %",
            "Started",
            "Day",
            "Active"
        ]
    );
    assert_eq!(sheet.get((1, 0)), Some(&Data::String("Spring sale".into())));
    assert_eq!(sheet.get((1, 1)), Some(&Data::Float(10000.0)));
    assert_eq!(sheet.get((1, 2)), Some(&Data::Float(1234.5)));
    assert_eq!(sheet.get((1, 3)), Some(&Data::Float(42.5)));
    match sheet.get((1, 4)) {
        Some(Data::DateTime(t)) => {
            assert_eq!(
                t.as_datetime().map(|d| d.to_string()),
                Some("2026-11-01 10:00:00".into())
            );
        }
        other => panic!("Started is not a date-time: {other:?}"),
    }
    match sheet.get((1, 5)) {
        Some(Data::DateTime(t)) => assert_eq!(
            t.as_datetime().map(|d| d.date().to_string()),
            Some("2026-10-01".into())
        ),
        other => panic!("Day is not a date: {other:?}"),
    }
    assert_eq!(sheet.get((1, 6)), Some(&Data::Bool(true)));
    assert_eq!(sheet.get((2, 0)), Some(&Data::String(TRICKY.into())));
    assert!(matches!(sheet.get((3, 1)), None | Some(Data::Empty)));

    let daily = book.worksheet_range("Daily totals").expect("daily");
    assert_eq!(daily.height(), 1 + DAILY_ROWS as usize);

    let mut zip = zip::ZipArchive::new(File::open(path).expect("open")).expect("zip");
    for sheet in ["xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml"] {
        let mut xml = String::new();
        zip.by_name(sheet)
            .expect("sheet xml")
            .read_to_string(&mut xml)
            .expect("read");
        assert!(xml.contains("<pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"), "{sheet} has no frozen pane");
    }
}

/// Runs a poppler tool, failing with install advice when it is missing.
fn poppler(tool: &str, args: &[&str]) -> std::process::Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{tool} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }
        Err(e) => panic!("cannot run {tool} ({e}): apt-get install poppler-utils"),
    }
}

#[test]
fn pdf_text_is_extractable_and_pages_are_numbered() {
    let dir = scratch("pdf");
    let files = render_all(&dir);
    let path = file(&files, Format::Pdf)
        .path
        .to_string_lossy()
        .into_owned();
    let text = String::from_utf8_lossy(&poppler("pdftotext", &["-layout", &path, "-"]).stdout)
        .into_owned();
    for needle in [
        "Campaign performance",
        "acme · campaign_performance",
        "Europe/Paris",
        "2026-11-01 09:00:00 UTC",
        "2026-10-31",
        "Funnel — Spring sale",
        "Daily overview",
        "Spring sale",
        "10000",
        "1234.5",
        "42.50%",
        "Daily totals (continued)",
        "1119",
        "Page 1",
        "Page 2",
        "Page 3",
    ] {
        assert!(
            text.contains(needle),
            "pdftotext output lacks {needle:?}:\n{text}"
        );
    }
    // Every page repeats the header row of the table on it.
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| p.contains("Daily totals"))
        .collect();
    assert!(pages.len() >= 2);
    assert!(pages.iter().all(|p| p.contains("Opens")));
}

#[test]
fn pdf_pages_render_to_non_blank_images() {
    let dir = scratch("pdf-image");
    let files = render_all(&dir);
    let path = file(&files, Format::Pdf)
        .path
        .to_string_lossy()
        .into_owned();
    let png = dir.join("page").to_string_lossy().into_owned();
    poppler(
        "pdftoppm",
        &["-r", "50", "-png", "-f", "1", "-l", "1", &path, &png],
    );
    let png_file = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .expect("pdftoppm wrote a png");
    assert!(png_file.metadata().expect("png").len() > 1000);
    // Gray PGM of the same page: count the ink.
    let gray = dir.join("gray").to_string_lossy().into_owned();
    poppler(
        "pdftoppm",
        &["-r", "50", "-gray", "-f", "1", "-l", "1", &path, &gray],
    );
    let pgm = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".pgm"))
        .expect("pdftoppm wrote a pgm");
    let bytes = std::fs::read(pgm.path()).expect("pgm");
    let pixels = pgm_pixels(&bytes);
    let dark = pixels.iter().filter(|&&p| p < 200).count();
    assert!(pixels.len() > 10_000, "page image too small");
    assert!(
        dark * 100 > pixels.len(),
        "page 1 is nearly blank: {dark} dark of {}",
        pixels.len()
    );
}

/// The pixel bytes of a binary PGM (P5, maxval < 256).
fn pgm_pixels(bytes: &[u8]) -> &[u8] {
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 && i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    &bytes[(i + 1).min(bytes.len())..]
}

/// Checks that every opened element is closed in order (void and self-closed elements
/// excepted); returns the element count.
fn check_balanced(html: &str) -> usize {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut stack: Vec<String> = Vec::new();
    let mut count = 0;
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').expect("unclosed tag bracket");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "mismatched close tag");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        count += 1;
        if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    count
}

#[test]
fn html_is_balanced_escaped_and_has_charts_and_tables() {
    let dir = scratch("html");
    let files = render_all(&dir);
    let html = std::fs::read_to_string(&file(&files, Format::Html).path).expect("read");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(check_balanced(&html) > 100);
    assert!(html.contains("<title>Campaign performance</title>"));
    assert!(html.contains("Fish &amp; &quot;Chips&quot; &lt;b&gt;, ok"));
    assert!(!html.contains("<b>"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("<polyline"));
    assert_eq!(html.matches("<table>").count(), 2);
    assert_eq!(html.matches("<thead>").count(), 2);
    assert!(html.contains("<td class=\"num\">10000</td>"));
    assert!(html.contains("<td class=\"num\">42.50%</td>"));
    assert!(html.contains("Europe/Paris"));
    assert!(
        !html.contains("http://") || html.matches("http://").count() == 2,
        "external references"
    );
    assert!(!html.contains("<script"));
}

#[test]
fn wrong_cell_count_is_a_protocol_error() {
    let dir = scratch("protocol");
    for format in Format::ALL {
        let mut s = sink(format, &meta(), &dir, format.as_str()).expect("sink");
        s.begin_table(&daily_spec()).expect("begin");
        let mut row = daily_rows(1).next().expect("row");
        row.cells.pop();
        assert!(
            matches!(s.row(&row), Err(RenderError::Protocol(_))),
            "{format}"
        );
    }
    let mut fan = Fanout::create(&Format::ALL, &meta(), &dir, "fan").expect("fanout");
    let row = daily_rows(1).next().expect("row");
    assert!(
        matches!(fan.row(&row), Err(RenderError::Protocol(_))),
        "row before begin_table"
    );
    fan.begin_table(&daily_spec()).expect("begin");
    let mut short = row.clone();
    short.cells.truncate(1);
    assert!(matches!(fan.row(&short), Err(RenderError::Protocol(_))));
    fan.row(&row).expect("a good row still works");
    assert!(
        matches!(fan.chart(&charts()[0]), Err(RenderError::Protocol(_))),
        "chart after a table"
    );
    assert!(
        matches!(
            fan.begin_table(&daily_spec()),
            Err(RenderError::Protocol(_))
        ),
        "nested table"
    );
    fan.end_table().expect("end");
    assert!(
        matches!(
            fan.begin_table(&daily_spec()),
            Err(RenderError::Protocol(_))
        ),
        "duplicate name"
    );
}

#[test]
fn formats_parse_and_describe_themselves() {
    for format in Format::ALL {
        assert_eq!(format.as_str().parse::<Format>().ok(), Some(format));
        assert_eq!(
            serde_json::to_string(&format).ok(),
            Some(format!("\"{}\"", format.as_str()))
        );
        assert_eq!(format.extension(), format.as_str());
    }
    assert!("docx".parse::<Format>().is_err());
    assert_eq!(
        Format::Xlsx.content_type(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
}
