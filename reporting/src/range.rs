//! Report date ranges, in the tenant's calendar: a [`RangeInput`] names a
//! span of whole days relative to "today" (or two fixed dates) and
//! [`RangeInput::resolve`] turns it into inclusive dates.

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use crate::error::{invalid, ValidationError};
use crate::fields;

/// The largest `n` of [`RangeInput::LastNDays`]: about ten years.
pub const MAX_LAST_N_DAYS: u32 = 3660;

/// A date range as a client sends it, tagged by `type`.
///
/// Every range is made of whole days and ends at the latest with today,
/// in the calendar of the tenant (the caller supplies "today").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RangeInput {
    /// The `n` complete days ending yesterday: today, still running, is
    /// left out so that a report run in the morning is not a partial day.
    LastNDays {
        /// 1 to [`MAX_LAST_N_DAYS`].
        n: u32,
    },
    /// Monday to Sunday of the ISO week before today's.
    PreviousWeek,
    /// The first to the last day of the month before today's.
    PreviousMonth,
    /// The first of today's month to today.
    MonthToDate,
    /// Two fixed dates, both included, `from` not after `to`.
    Between {
        /// The first day.
        from: NaiveDate,
        /// The last day.
        to: NaiveDate,
    },
}

const TYPES: &str = "last_n_days, previous_week, previous_month, month_to_date or between";

impl RangeInput {
    /// Reads a range from client JSON; errors name `path` (such as
    /// `parameters.range`) and the offending member.
    pub fn parse(value: &Value, path: &str) -> Result<RangeInput, ValidationError> {
        let object = fields::object(value, path, &format!("a type: {TYPES}"))?;
        let type_path = fields::join_path(path, "type");
        let kind = fields::string(fields::required(object, path, "type")?, &type_path)?;
        let (range, allowed): (RangeInput, &[&str]) = match kind {
            "last_n_days" => (last_n_days(object, path)?, &["type", "n"]),
            "previous_week" => (RangeInput::PreviousWeek, &["type"]),
            "previous_month" => (RangeInput::PreviousMonth, &["type"]),
            "month_to_date" => (RangeInput::MonthToDate, &["type"]),
            "between" => (between(object, path)?, &["type", "from", "to"]),
            other => {
                return Err(invalid(format!(
                    "{type_path}: unknown range type \"{other}\"; use {TYPES}"
                )))
            }
        };
        fields::reject_unknown(object, path, allowed)?;
        Ok(range)
    }

    /// The first and last day of the range (both included), given the
    /// tenant's current date.
    pub fn resolve(&self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        match *self {
            RangeInput::LastNDays { n } => (days_before(today, n.into()), days_before(today, 1)),
            RangeInput::PreviousWeek => {
                let monday = days_before(today, today.weekday().num_days_from_monday().into());
                (days_before(monday, 7), days_before(monday, 1))
            }
            RangeInput::PreviousMonth => {
                let last = days_before(first_of_month(today), 1);
                (first_of_month(last), last)
            }
            RangeInput::MonthToDate => (first_of_month(today), today),
            RangeInput::Between { from, to } => (from, to),
        }
    }
}

fn last_n_days(
    object: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<RangeInput, ValidationError> {
    let n_path = fields::join_path(path, "n");
    let n = fields::required(object, path, "n")?;
    n.as_u64()
        .filter(|n| (1..=u64::from(MAX_LAST_N_DAYS)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .map(|n| RangeInput::LastNDays { n })
        .ok_or_else(|| {
            invalid(format!(
                "{n_path}: must be a whole number from 1 to {MAX_LAST_N_DAYS}, got {n}"
            ))
        })
}

fn between(
    object: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<RangeInput, ValidationError> {
    let from = date(object, path, "from")?;
    let to = date(object, path, "to")?;
    if from > to {
        return Err(invalid(format!("{path}: from {from} is after to {to}")));
    }
    Ok(RangeInput::Between { from, to })
}

fn date(
    object: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<NaiveDate, ValidationError> {
    let date_path = fields::join_path(path, key);
    let text = fields::string(fields::required(object, path, key)?, &date_path)?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        invalid(format!(
            "{date_path}: \"{text}\" is not a date; use YYYY-MM-DD"
        ))
    })
}

fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    days_before(date, u64::from(date.day0()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn resolved(range: RangeInput, today: &str) -> (String, String) {
        let (from, to) = range.resolve(day(today));
        (from.to_string(), to.to_string())
    }

    fn pair(from: &str, to: &str) -> (String, String) {
        (from.to_owned(), to.to_owned())
    }

    fn parse_error(value: Value) -> String {
        RangeInput::parse(&value, "parameters.range").unwrap_err().0
    }

    #[test]
    fn last_n_days_are_the_complete_days_ending_yesterday() {
        let range = RangeInput::LastNDays { n: 7 };
        assert_eq!(
            resolved(range, "2026-11-10"),
            pair("2026-11-03", "2026-11-09")
        );
        assert_eq!(
            resolved(RangeInput::LastNDays { n: 1 }, "2026-01-01"),
            pair("2025-12-31", "2025-12-31")
        );
        assert_eq!(
            resolved(RangeInput::LastNDays { n: 30 }, "2028-03-01"),
            pair("2028-01-31", "2028-02-29")
        );
    }

    #[test]
    fn previous_week_is_the_iso_week_before_todays() {
        // 2026-11-11 is a Wednesday.
        let expected = pair("2026-11-02", "2026-11-08");
        assert_eq!(resolved(RangeInput::PreviousWeek, "2026-11-11"), expected);
        assert_eq!(resolved(RangeInput::PreviousWeek, "2026-11-09"), expected);
        assert_eq!(resolved(RangeInput::PreviousWeek, "2026-11-15"), expected);
        // Across a year boundary: 2026-01-01 is a Thursday.
        assert_eq!(
            resolved(RangeInput::PreviousWeek, "2026-01-01"),
            pair("2025-12-22", "2025-12-28")
        );
        assert_eq!(
            resolved(RangeInput::PreviousWeek, "2026-01-05"),
            pair("2025-12-29", "2026-01-04")
        );
    }

    #[test]
    fn previous_month_spans_the_whole_month() {
        assert_eq!(
            resolved(RangeInput::PreviousMonth, "2026-03-31"),
            pair("2026-02-01", "2026-02-28")
        );
        assert_eq!(
            resolved(RangeInput::PreviousMonth, "2028-03-01"),
            pair("2028-02-01", "2028-02-29")
        );
        assert_eq!(
            resolved(RangeInput::PreviousMonth, "2027-01-15"),
            pair("2026-12-01", "2026-12-31")
        );
    }

    #[test]
    fn month_to_date_includes_today() {
        assert_eq!(
            resolved(RangeInput::MonthToDate, "2026-11-10"),
            pair("2026-11-01", "2026-11-10")
        );
        assert_eq!(
            resolved(RangeInput::MonthToDate, "2027-01-01"),
            pair("2027-01-01", "2027-01-01")
        );
    }

    #[test]
    fn between_is_fixed() {
        let range = RangeInput::Between {
            from: day("2025-12-30"),
            to: day("2026-01-02"),
        };
        assert_eq!(
            resolved(range, "2030-06-01"),
            pair("2025-12-30", "2026-01-02")
        );
    }

    #[test]
    fn parses_every_type() {
        let cases = [
            (
                json!({"type": "last_n_days", "n": 7}),
                RangeInput::LastNDays { n: 7 },
            ),
            (json!({"type": "previous_week"}), RangeInput::PreviousWeek),
            (json!({"type": "previous_month"}), RangeInput::PreviousMonth),
            (json!({"type": "month_to_date"}), RangeInput::MonthToDate),
            (
                json!({"type": "between", "from": "2026-11-01", "to": "2026-11-07"}),
                RangeInput::Between {
                    from: day("2026-11-01"),
                    to: day("2026-11-07"),
                },
            ),
        ];
        for (value, expected) in cases {
            let parsed = RangeInput::parse(&value, "range").unwrap();
            assert_eq!(parsed, expected);
            assert_eq!(serde_json::to_value(parsed).unwrap(), value, "round trip");
        }
    }

    #[test]
    fn a_one_day_between_is_fine() {
        let value = json!({"type": "between", "from": "2026-11-01", "to": "2026-11-01"});
        assert!(RangeInput::parse(&value, "range").is_ok());
    }

    #[test]
    fn rejects_bad_ranges_naming_the_field() {
        assert_eq!(
            parse_error(json!({"type": "between", "from": "2026-11-08", "to": "2026-11-07"})),
            "parameters.range: from 2026-11-08 is after to 2026-11-07"
        );
        assert_eq!(
            parse_error(json!({"type": "between", "from": "2026-13-01", "to": "2026-11-07"})),
            "parameters.range.from: \"2026-13-01\" is not a date; use YYYY-MM-DD"
        );
        assert_eq!(
            parse_error(json!({"type": "between", "from": "2026-11-01"})),
            "parameters.range.to: missing"
        );
        assert_eq!(
            parse_error(json!({"type": "last_n_days", "n": 0})),
            "parameters.range.n: must be a whole number from 1 to 3660, got 0"
        );
        assert_eq!(
            parse_error(json!({"type": "last_n_days", "n": 3661})),
            "parameters.range.n: must be a whole number from 1 to 3660, got 3661"
        );
        assert_eq!(
            parse_error(json!({"type": "last_n_days", "n": 1.5})),
            "parameters.range.n: must be a whole number from 1 to 3660, got 1.5"
        );
        assert_eq!(
            parse_error(json!({"type": "last_n_days"})),
            "parameters.range.n: missing"
        );
        assert_eq!(
            parse_error(json!({"type": "previous_week", "n": 3})),
            "parameters.range.n: unknown field; allowed: type"
        );
        assert_eq!(
            parse_error(json!({"type": "last_week"})),
            "parameters.range.type: unknown range type \"last_week\"; use last_n_days, \
             previous_week, previous_month, month_to_date or between"
        );
        assert_eq!(parse_error(json!({})), "parameters.range.type: missing");
        assert!(
            parse_error(json!("previous_week")).starts_with("parameters.range: must be an object")
        );
    }

    #[test]
    fn resolving_never_panics_at_the_calendar_edge() {
        let range = RangeInput::LastNDays { n: MAX_LAST_N_DAYS };
        let (from, to) = range.resolve(NaiveDate::MIN);
        assert_eq!((from, to), (NaiveDate::MIN, NaiveDate::MIN));
    }
}
