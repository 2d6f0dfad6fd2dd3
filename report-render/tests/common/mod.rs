//! A sample report document shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use report_render::{Cell, Chart, Column, ColumnType, Meta, Row, Series, TableSpec};
use serde_json::json;

/// The tricky text cell (CSV quoting, HTML escaping).
pub const TRICKY: &str = "Fish & \"Chips\" <b>, ok";

pub fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid test time")
}

pub fn meta() -> Meta {
    Meta {
        title: "Campaign performance".into(),
        tenant: "acme".into(),
        kind: "campaign_performance".into(),
        parameters: vec![
            ("from".into(), "2026-10-01".into()),
            ("to".into(), "2026-10-31".into()),
        ],
        as_of: Some(at(2026, 11, 1, 9)),
        generated_at: at(2026, 11, 1, 10),
        timezone: "Europe/Paris".into(),
    }
}

pub fn charts() -> Vec<Chart> {
    let days: Vec<String> = (1..=14).map(|d| format!("2026-10-{d:02}")).collect();
    vec![
        Chart::Bars {
            title: "Funnel — Spring sale".into(),
            labels: ["Sent", "Delivered", "Opened", "Clicked", "Converted"]
                .map(String::from)
                .to_vec(),
            values: vec![10000.0, 9800.0, 4200.0, 900.0, 120.0],
            unit: "".into(),
        },
        Chart::Line {
            title: "Daily overview".into(),
            labels: days,
            series: vec![
                Series {
                    name: "Opens".into(),
                    values: (0..14).map(|i| 300.0 + 20.0 * f64::from(i)).collect(),
                },
                Series {
                    name: "Clicks".into(),
                    values: (0..14).map(|i| 80.0 + 5.0 * f64::from(i % 5)).collect(),
                },
            ],
        },
    ]
}

pub fn campaigns_spec() -> TableSpec {
    TableSpec {
        name: "campaigns".into(),
        title: "Campaigns".into(),
        columns: vec![
            Column::new("Campaign", ColumnType::Text),
            Column::new("Sent", ColumnType::Integer),
            Column::new("Revenue", ColumnType::Number),
            Column::new("Open rate %", ColumnType::Percent),
            Column::new("Started", ColumnType::DateTime),
            Column::new("Day", ColumnType::Date),
            Column::new("Active", ColumnType::Bool),
        ],
    }
}

/// Campaign rows: ("Spring sale", 10000, 1234.5, 42.5, ...), the tricky one, one with nulls.
pub fn campaign_rows() -> Vec<Row> {
    let day = NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date");
    vec![
        Row {
            cells: vec![
                Cell::Text("Spring sale".into()),
                Cell::Int(10000),
                Cell::Number(1234.5),
                Cell::Number(42.5),
                Cell::DateTime(at(2026, 11, 1, 10)),
                Cell::Date(day),
                Cell::Bool(true),
            ],
            json: json!({"campaign": "Spring sale", "sent": 10000, "revenue": 1234.5}),
        },
        Row {
            cells: vec![
                Cell::Text(TRICKY.into()),
                Cell::Int(7),
                Cell::Number(0.1 + 0.2),
                Cell::Number(3.0),
                Cell::DateTime(at(2026, 10, 2, 8) + Duration::milliseconds(123)),
                Cell::Date(day),
                Cell::Bool(false),
            ],
            json: json!({"campaign": TRICKY, "sent": 7}),
        },
        Row {
            cells: vec![
                Cell::Text("Multi\nline".into()),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
            ],
            json: json!({"campaign": "Multi\nline", "sent": null}),
        },
    ]
}

pub fn daily_spec() -> TableSpec {
    TableSpec {
        name: "daily".into(),
        title: "Daily totals".into(),
        columns: vec![
            Column::new("Date", ColumnType::Date),
            Column::new("Opens", ColumnType::Integer),
            Column::new("Clicks", ColumnType::Integer),
        ],
    }
}

/// `n` daily rows; row i has opens 1000 + i.
pub fn daily_rows(n: i64) -> impl Iterator<Item = Row> {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    (0..n).map(move |i| Row {
        cells: vec![Cell::Date(start + Duration::days(i)), Cell::Int(1000 + i), Cell::Int(i % 97)],
        json: json!({"date": (start + Duration::days(i)).to_string(), "opens": 1000 + i, "clicks": i % 97}),
    })
}
