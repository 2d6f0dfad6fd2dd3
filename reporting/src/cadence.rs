//! When a schedule fires, as wall-clock times in its time zone: a standard
//! 5-field cron expression or a preset (daily, weekly, monthly).
//!
//! This module only knows local (naive) times; [`crate::occurrence`] turns
//! them into instants under the DST rules.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::error::{invalid, ValidationError};

/// The wall-clock times at which a schedule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Cadence {
    /// A standard 5-field cron expression; day-of-month and day-of-week
    /// combine like Vixie cron: either matches when both are restricted
    /// (not `*`; a step such as `*/2` counts as restricted).
    Cron {
        /// The expression, fields separated by single spaces.
        expression: String,
        /// The expression as croner evaluates it.
        parsed: Box<Cron>,
    },
    /// Every day at `hour:minute`.
    Daily {
        /// 0 to 23.
        hour: u32,
        /// 0 to 59.
        minute: u32,
    },
    /// Every week on `weekday` at `hour:minute`.
    Weekly {
        /// The day of the week.
        weekday: Weekday,
        /// 0 to 23.
        hour: u32,
        /// 0 to 59.
        minute: u32,
    },
    /// Every month on `day` at `hour:minute`; a day past the month's end
    /// means its last day.
    Monthly {
        /// 1 to 31.
        day: u32,
        /// 0 to 23.
        hour: u32,
        /// 0 to 59.
        minute: u32,
    },
}

const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The weekdays with their lowercase English names, Monday first.
pub(crate) const WEEKDAYS: [(Weekday, &str); 7] = [
    (Weekday::Mon, "monday"),
    (Weekday::Tue, "tuesday"),
    (Weekday::Wed, "wednesday"),
    (Weekday::Thu, "thursday"),
    (Weekday::Fri, "friday"),
    (Weekday::Sat, "saturday"),
    (Weekday::Sun, "sunday"),
];

/// A preset looks at most this many days ahead or back for its next day
/// (a monthly day is never further than a month away).
const PRESET_SEARCH_DAYS: u64 = 62;

impl Cadence {
    /// Parses a standard 5-field cron expression (minute hour day-of-month
    /// month day-of-week; 0 and 7 are Sunday; month and weekday names
    /// allowed). Seconds, years, nicknames (`@daily`) and the non-standard
    /// `L`, `W`, `#`, `?` and `+` are rejected, and so is an expression that
    /// matches no date at all (`0 0 31 2 *`).
    pub fn from_cron(expression: &str) -> Result<Cadence, ValidationError> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != FIELDS.len() {
            return Err(invalid(format!(
                "cron: \"{expression}\" has {} field{}; use 5: {}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" },
                FIELDS.join(" ")
            )));
        }
        for (field, text) in FIELDS.iter().zip(&fields) {
            check_cron_field(field, text)?;
        }
        let expression = fields.join(" ");
        let parsed = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .build()
            .parse(&expression)
            .map_err(|e| invalid(format!("cron: \"{expression}\" is invalid: {e}")))?;
        if !runs_at_all(&parsed) {
            return Err(invalid(format!(
                "cron: \"{expression}\" never runs; no date matches its day-of-month and month fields"
            )));
        }
        Ok(Cadence::Cron {
            expression,
            parsed: Box::new(parsed),
        })
    }

    /// An English description without the time zone, such as "every Monday
    /// at 08:00" or `cron "0 8 * * 1-5"`.
    pub fn describe(&self) -> String {
        match self {
            Cadence::Cron { expression, .. } => format!("cron \"{expression}\""),
            Cadence::Daily { hour, minute } => format!("every day at {hour:02}:{minute:02}"),
            Cadence::Weekly {
                weekday,
                hour,
                minute,
            } => format!(
                "every {} at {hour:02}:{minute:02}",
                capitalized(weekday_name(*weekday))
            ),
            Cadence::Monthly { day, hour, minute } if *day > 28 => format!(
                "every month on day {day} (or the month's last day) at {hour:02}:{minute:02}"
            ),
            Cadence::Monthly { day, hour, minute } => {
                format!("every month on day {day} at {hour:02}:{minute:02}")
            }
        }
    }

    /// The first wall-clock time strictly after `after` at which the
    /// cadence fires, if any.
    pub(crate) fn next_local(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Cadence::Cron { parsed, .. } => parsed.find_next_occurrence(&after, false).ok(),
            _ => {
                let time = self.preset_time()?;
                (0..=PRESET_SEARCH_DAYS)
                    .filter_map(|n| after.date().checked_add_days(Days::new(n)))
                    .filter(|date| self.fires_on(*date))
                    .map(|date| date.and_time(time))
                    .find(|candidate| *candidate > after)
            }
        }
    }

    /// The last wall-clock time at or before `at` at which the cadence
    /// fires, if any.
    pub(crate) fn last_local(&self, at: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Cadence::Cron { parsed, .. } => parsed.find_previous_occurrence(&at, true).ok(),
            _ => {
                let time = self.preset_time()?;
                (0..=PRESET_SEARCH_DAYS)
                    .filter_map(|n| at.date().checked_sub_days(Days::new(n)))
                    .filter(|date| self.fires_on(*date))
                    .map(|date| date.and_time(time))
                    .find(|candidate| *candidate <= at)
            }
        }
    }

    /// The time of day of a preset (`None` for a cron or an impossible time).
    fn preset_time(&self) -> Option<NaiveTime> {
        match *self {
            Cadence::Cron { .. } => None,
            Cadence::Daily { hour, minute }
            | Cadence::Weekly { hour, minute, .. }
            | Cadence::Monthly { hour, minute, .. } => NaiveTime::from_hms_opt(hour, minute, 0),
        }
    }

    /// Whether a preset fires on `date`.
    fn fires_on(&self, date: NaiveDate) -> bool {
        match *self {
            Cadence::Cron { .. } => false,
            Cadence::Daily { .. } => true,
            Cadence::Weekly { weekday, .. } => date.weekday() == weekday,
            Cadence::Monthly { day, .. } => date.day() == day.min(last_day_of_month(date)),
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Only numbers, `*`, `,`, `-`, `/` and, in the month and day-of-week
/// fields, three-letter English names.
fn check_cron_field(field: &str, text: &str) -> Result<(), ValidationError> {
    let (names, names_hint): (&[&str], &str) = match field {
        "month" => (&MONTH_NAMES, "names (JAN-DEC), "),
        "day-of-week" => (&WEEKDAY_NAMES, "names (SUN-SAT), "),
        _ => (&[], ""),
    };
    let allowed = |token: &str| {
        token == "*"
            || (!token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()))
            || names.contains(&token.to_ascii_uppercase().as_str())
    };
    if text.split([',', '-', '/']).all(allowed) {
        Ok(())
    } else {
        Err(invalid(format!(
            "cron: the {field} field \"{text}\" is not standard cron; use numbers, {names_hint}\
             *, ranges (1-5), lists (1,3) and steps (*/15)"
        )))
    }
}

/// Whether an expression matches any date: one that matches none (the 31st
/// of February) is refused. Every other one matches within eight years (a
/// leap day comes at least once in eight years).
fn runs_at_all(parsed: &Cron) -> bool {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|start| {
            parsed
                .find_next_occurrence(&start.and_time(NaiveTime::MIN), true)
                .ok()
        })
        .is_some_and(|first| first.year() <= 2008)
}

/// The lowercase English name of a weekday.
pub(crate) fn weekday_name(weekday: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(day, _)| *day == weekday)
        .map_or("monday", |(_, name)| name)
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The number of the last day of `date`'s month.
fn last_day_of_month(date: NaiveDate) -> u32 {
    date.with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn cron(expression: &str) -> Cadence {
        Cadence::from_cron(expression).unwrap()
    }

    fn cron_error(expression: &str) -> String {
        Cadence::from_cron(expression).unwrap_err().0
    }

    fn next(cadence: &Cadence, after: &str) -> String {
        cadence
            .next_local(at(after))
            .unwrap()
            .format("%Y-%m-%d %H:%M %a")
            .to_string()
    }

    fn last(cadence: &Cadence, at_or_before: &str) -> String {
        cadence
            .last_local(at(at_or_before))
            .unwrap()
            .format("%Y-%m-%d %H:%M %a")
            .to_string()
    }

    #[test]
    fn accepts_standard_expressions() {
        for expression in [
            "* * * * *",
            "0 8 * * 1-5",
            "*/15 9-17 * * mon-fri",
            "0 9 1 * *",
            "0 0 29 2 *",
            "0 0 1 jan,jul *",
            "5,35 */2 1-15 * 0",
            "0 12 * * 7",
        ] {
            assert!(Cadence::from_cron(expression).is_ok(), "{expression}");
        }
    }

    #[test]
    fn normalizes_the_spacing() {
        let Cadence::Cron { expression, .. } = cron("  0  8 * *\t1-5 ") else {
            panic!("not a cron");
        };
        assert_eq!(expression, "0 8 * * 1-5");
    }

    #[test]
    fn rejects_anything_but_five_fields() {
        assert_eq!(
            cron_error("0 0 8 * * 1"),
            "cron: \"0 0 8 * * 1\" has 6 fields; use 5: minute hour day-of-month month day-of-week"
        );
        assert!(cron_error("0 0 8 * * 1 2026").contains("has 7 fields"));
        assert!(cron_error("0 8 * *").contains("has 4 fields"));
        assert!(cron_error("").contains("has 0 fields"));
        assert!(cron_error("@daily").contains("has 1 field;"));
    }

    #[test]
    fn rejects_non_standard_syntax() {
        assert_eq!(
            cron_error("0 8 L * *"),
            "cron: the day-of-month field \"L\" is not standard cron; use numbers, \
             *, ranges (1-5), lists (1,3) and steps (*/15)"
        );
        assert_eq!(
            cron_error("0 8 * * 1#2"),
            "cron: the day-of-week field \"1#2\" is not standard cron; use numbers, names \
             (SUN-SAT), *, ranges (1-5), lists (1,3) and steps (*/15)"
        );
        assert!(cron_error("0 8 15W * *").contains("\"15W\""));
        assert!(cron_error("0 8 ? * 1").contains("\"?\""));
        assert!(cron_error("0 8 * * +1").contains("\"+1\""));
        assert!(cron_error("0 8 * mon *").contains("the month field \"mon\""));
        assert!(cron_error("0 8 * * jan").contains("the day-of-week field \"jan\""));
        assert!(cron_error("0 0 1,,2 * *").contains("the day-of-month field \"1,,2\""));
        assert!(cron_error("0 0 -5 * *").contains("the day-of-month field \"-5\""));
    }

    #[test]
    fn rejects_out_of_range_values() {
        for expression in [
            "60 * * * *",
            "0 24 * * *",
            "0 0 32 * *",
            "0 0 * 13 *",
            "0 0 * * 8",
        ] {
            let error = cron_error(expression);
            assert!(
                error.starts_with(&format!("cron: \"{expression}\" is invalid: ")),
                "{error}"
            );
        }
        assert!(cron_error("*/0 * * * *").contains("is invalid"));
    }

    #[test]
    fn rejects_expressions_that_never_run() {
        assert_eq!(
            cron_error("0 0 31 2 *"),
            "cron: \"0 0 31 2 *\" never runs; no date matches its day-of-month and month fields"
        );
        assert!(cron_error("0 0 31 4,6,9,11 *").contains("never runs"));
        assert!(cron_error("0 0 30 feb *").contains("never runs"));
    }

    #[test]
    fn seven_and_zero_are_sunday() {
        // 2026-03-01 is a Sunday.
        assert_eq!(
            next(&cron("0 12 * * 7"), "2026-02-26 00:00"),
            "2026-03-01 12:00 Sun"
        );
        assert_eq!(
            next(&cron("0 12 * * 0"), "2026-02-26 00:00"),
            "2026-03-01 12:00 Sun"
        );
        assert_eq!(
            next(&cron("0 12 * * 5-7"), "2026-02-28 13:00"),
            "2026-03-01 12:00 Sun"
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_as_in_vixie_cron() {
        // The 1st of the month OR any Tuesday; 2026-06-01 is a Monday.
        let either = cron("0 0 1 * 2");
        assert_eq!(next(&either, "2026-05-31 12:00"), "2026-06-01 00:00 Mon");
        assert_eq!(next(&either, "2026-06-01 00:00"), "2026-06-02 00:00 Tue");
        assert_eq!(next(&either, "2026-06-02 00:00"), "2026-06-09 00:00 Tue");
        // A `*` in one of them leaves the other alone.
        assert_eq!(
            next(&cron("0 0 1 * *"), "2026-06-01 00:00"),
            "2026-07-01 00:00 Wed"
        );
        assert_eq!(
            next(&cron("0 0 * * 2"), "2026-06-02 00:00"),
            "2026-06-09 00:00 Tue"
        );
        // A step counts as restricted, as the standard says (Vixie's code
        // treats any field starting with `*` as unrestricted): odd days OR
        // Tuesdays.
        let stepped = cron("0 0 */2 * 2");
        assert_eq!(next(&stepped, "2026-06-01 00:00"), "2026-06-02 00:00 Tue");
        assert_eq!(next(&stepped, "2026-06-02 00:00"), "2026-06-03 00:00 Wed");
    }

    #[test]
    fn cron_candidates_forward_and_back() {
        let weekdays = cron("0 8 * * 1-5");
        // 2026-11-06 is a Friday.
        assert_eq!(next(&weekdays, "2026-11-06 08:00"), "2026-11-09 08:00 Mon");
        assert_eq!(last(&weekdays, "2026-11-08 23:59"), "2026-11-06 08:00 Fri");
        assert_eq!(last(&weekdays, "2026-11-06 08:00"), "2026-11-06 08:00 Fri");
        let first = cron("0 9 1 * *");
        assert_eq!(next(&first, "2026-12-01 09:00"), "2027-01-01 09:00 Fri");
        let leap = cron("0 0 29 2 *");
        assert_eq!(next(&leap, "2024-02-29 00:00"), "2028-02-29 00:00 Tue");
        assert_eq!(last(&leap, "2028-02-28 23:59"), "2024-02-29 00:00 Thu");
    }

    #[test]
    fn daily_candidates() {
        let daily = Cadence::Daily { hour: 8, minute: 0 };
        assert_eq!(next(&daily, "2026-12-31 07:59"), "2026-12-31 08:00 Thu");
        assert_eq!(next(&daily, "2026-12-31 08:00"), "2027-01-01 08:00 Fri");
        assert_eq!(last(&daily, "2026-12-31 08:00"), "2026-12-31 08:00 Thu");
        assert_eq!(last(&daily, "2026-12-31 07:59"), "2026-12-30 08:00 Wed");
    }

    #[test]
    fn weekly_candidates() {
        let monday = Cadence::Weekly {
            weekday: Weekday::Mon,
            hour: 8,
            minute: 0,
        };
        assert_eq!(next(&monday, "2026-11-09 08:00"), "2026-11-16 08:00 Mon");
        assert_eq!(next(&monday, "2026-11-09 07:00"), "2026-11-09 08:00 Mon");
        assert_eq!(next(&monday, "2026-12-29 00:00"), "2027-01-04 08:00 Mon");
        assert_eq!(last(&monday, "2026-11-09 07:59"), "2026-11-02 08:00 Mon");
    }

    #[test]
    fn monthly_past_the_end_is_the_last_day() {
        let day31 = Cadence::Monthly {
            day: 31,
            hour: 8,
            minute: 0,
        };
        assert_eq!(next(&day31, "2026-01-31 08:00"), "2026-02-28 08:00 Sat");
        assert_eq!(next(&day31, "2028-01-31 08:00"), "2028-02-29 08:00 Tue");
        assert_eq!(next(&day31, "2026-03-31 08:00"), "2026-04-30 08:00 Thu");
        assert_eq!(next(&day31, "2026-12-31 08:00"), "2027-01-31 08:00 Sun");
        assert_eq!(last(&day31, "2026-03-30 00:00"), "2026-02-28 08:00 Sat");
        let day15 = Cadence::Monthly {
            day: 15,
            hour: 0,
            minute: 30,
        };
        assert_eq!(next(&day15, "2026-02-15 00:30"), "2026-03-15 00:30 Sun");
    }

    #[test]
    fn an_impossible_preset_time_has_no_candidates() {
        let broken = Cadence::Daily {
            hour: 24,
            minute: 0,
        };
        assert_eq!(broken.next_local(at("2026-01-01 00:00")), None);
        assert_eq!(broken.last_local(at("2026-01-01 00:00")), None);
    }

    #[test]
    fn describes_in_english() {
        assert_eq!(cron("0 8 * * 1-5").describe(), "cron \"0 8 * * 1-5\"");
        assert_eq!(
            Cadence::Daily { hour: 7, minute: 5 }.describe(),
            "every day at 07:05"
        );
        let weekly = Cadence::Weekly {
            weekday: Weekday::Mon,
            hour: 8,
            minute: 0,
        };
        assert_eq!(weekly.to_string(), "every Monday at 08:00");
        let monthly = |day| Cadence::Monthly {
            day,
            hour: 8,
            minute: 0,
        };
        assert_eq!(monthly(1).describe(), "every month on day 1 at 08:00");
        assert_eq!(
            monthly(30).describe(),
            "every month on day 30 (or the month's last day) at 08:00"
        );
    }
}
