//! Streams 200,000 rows through every format at once and checks that memory stays
//! bounded: the files grow while rows are written, and the process's peak resident set
//! grows far less than the rows would take if any sink kept them.
//!
//! This is its own test binary so that no other test shares the process's peak.

mod common;

use std::path::Path;

use chrono::Duration;
use common::*;
use report_render::{Cell, Column, ColumnType, Fanout, Format, Row, TableSpec};
use serde_json::json;

const ROWS: i64 = 200_000;
/// Allowed growth of the peak RSS. Keeping the rows would take well over 150 MiB.
const MAX_GROWTH_KIB: u64 = 48 * 1024;

/// The process's peak resident set size (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn spec() -> TableSpec {
    TableSpec {
        name: "journeys".into(),
        title: "Journeys".into(),
        columns: vec![
            Column::new("Journey", ColumnType::Text),
            Column::new("Campaign", ColumnType::Text),
            Column::new("Steps", ColumnType::Integer),
            Column::new("Revenue", ColumnType::Number),
            Column::new("Conversion", ColumnType::Percent),
            Column::new("Started", ColumnType::DateTime),
            Column::new("Converted", ColumnType::Bool),
        ],
    }
}

fn row(i: i64) -> Row {
    let journey = format!("journey-{i:08}-{}", "x".repeat(24));
    let campaign = format!("Campaign number {} with a fairly long name", i % 50);
    let started = at(2026, 10, 1, 0) + Duration::seconds(i);
    Row {
        cells: vec![
            Cell::Text(journey.clone()),
            Cell::Text(campaign.clone()),
            Cell::Int(i % 17),
            Cell::Number(i as f64 * 0.37),
            Cell::Number((i % 1000) as f64 / 10.0),
            Cell::DateTime(started),
            Cell::Bool(i % 3 == 0),
        ],
        json: json!({"journey": journey, "campaign": campaign, "steps": i % 17, "revenue": i as f64 * 0.37,
                     "conversion": (i % 1000) as f64 / 10.0, "started": started.to_rfc3339(), "converted": i % 3 == 0}),
    }
}

fn render(dir: &Path, base: &str, rows: i64, mut at_half: impl FnMut()) {
    let mut fan = Fanout::create(&Format::ALL, &meta(), dir, base).expect("sinks");
    for chart in charts() {
        fan.chart(&chart).expect("chart");
    }
    fan.begin_table(&spec()).expect("begin");
    for i in 0..rows {
        fan.row(&row(i)).expect("row");
        if i == rows / 2 {
            at_half();
        }
    }
    fan.end_table().expect("end");
    let files = fan.finish().expect("finish");
    assert_eq!(files.len(), 5);
}

fn part_size(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn two_hundred_thousand_rows_stream_with_bounded_memory() {
    let dir = std::env::temp_dir().join(format!("report-render-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");

    // Warm up allocator arenas and lazily built state with a small run.
    render(&dir, "warm", 2_000, || {});
    let before = peak_rss_kib();

    let mut sizes = Vec::new();
    render(&dir, "big", ROWS, || {
        for name in [
            "big.csv.part",
            "big.json.part",
            "big.html.part",
            "big.pdf.part",
        ] {
            sizes.push((name, part_size(&dir, name)));
        }
    });
    let growth = peak_rss_kib().saturating_sub(before);

    // Half-way through, the streamed formats are already on disk (one row is over 100
    // bytes in CSV, JSON and HTML; PDF pages are compressed).
    for (name, size) in &sizes {
        let min = if name.ends_with("pdf.part") {
            1 << 20
        } else {
            8 << 20
        };
        assert!(
            *size > min,
            "{name} holds only {size} bytes half-way: rows are buffered"
        );
    }
    assert!(
        growth < MAX_GROWTH_KIB,
        "peak RSS grew by {growth} KiB while streaming {ROWS} rows (limit {MAX_GROWTH_KIB} KiB)"
    );
    eprintln!("peak RSS growth: {growth} KiB for {ROWS} rows in 5 formats");
    let _ = std::fs::remove_dir_all(&dir);
}
