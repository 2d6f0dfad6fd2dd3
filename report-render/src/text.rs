//! Cell values as text: the exact forms used by CSV, and the human forms used by HTML
//! and PDF.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::{Cell, ColumnType};

/// Appends the machine form of `cell` (CSV): RFC 3339 UTC with milliseconds, ISO dates,
/// shortest round-trip numbers, `true`/`false`, nothing for `Null`.
pub(crate) fn push_exact(out: &mut String, cell: &Cell) {
    // Writing into a String cannot fail.
    let _ = match cell {
        Cell::Null => Ok(()),
        Cell::Text(s) => out.write_str(s),
        Cell::Int(i) => write!(out, "{i}"),
        Cell::Number(n) => write!(out, "{n}"),
        Cell::DateTime(t) => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
        Cell::Date(d) => write!(out, "{}", d.format("%Y-%m-%d")),
        Cell::Bool(b) => write!(out, "{b}"),
    };
}

/// The human form of `cell` in a column of type `ty` (HTML, PDF): numbers rounded for
/// reading (percentages with two decimals and a `%`), times as `YYYY-MM-DD HH:MM:SS`
/// UTC, booleans as yes/no.
pub(crate) fn human(cell: &Cell, ty: ColumnType) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Int(i) if ty == ColumnType::Percent => format!("{i}%"),
        Cell::Int(i) => i.to_string(),
        Cell::Number(n) if ty == ColumnType::Percent => format!("{n:.2}%"),
        Cell::Number(n) => human_number(*n),
        Cell::DateTime(t) => human_time(t),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Bool(true) => "yes".to_owned(),
        Cell::Bool(false) => "no".to_owned(),
    }
}

/// A number rounded to at most four decimals, without trailing zeros.
pub(crate) fn human_number(n: f64) -> String {
    if !n.is_finite() {
        return n.to_string();
    }
    let rounded = (n * 10_000.0).round() / 10_000.0;
    if rounded == 0.0 {
        // Avoid "-0".
        return "0".to_owned();
    }
    rounded.to_string()
}

/// An instant as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn human_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The optional "as of" instant for headers; without one, the figures
/// were read when the file was generated (e.g. the overview's rollups).
pub(crate) fn human_as_of(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "read at generation".to_owned(), human_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn exact_forms() {
        let mut s = String::new();
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).single();
        push_exact(&mut s, &Cell::DateTime(t.unwrap_or_default()));
        assert_eq!(s, "2026-11-01T10:00:00.000Z");
        s.clear();
        push_exact(&mut s, &Cell::Number(0.1 + 0.2));
        assert_eq!(s, "0.30000000000000004");
    }

    #[test]
    fn human_forms() {
        assert_eq!(human(&Cell::Number(12.345), ColumnType::Percent), "12.35%");
        assert_eq!(human(&Cell::Number(0.1 + 0.2), ColumnType::Number), "0.3");
        assert_eq!(human(&Cell::Number(-0.00001), ColumnType::Number), "0");
        assert_eq!(human(&Cell::Bool(true), ColumnType::Bool), "yes");
    }
}
