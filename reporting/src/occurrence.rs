//! When a schedule runs, as instants: its cadence's wall-clock times in its
//! time zone, under the DST rule of the contract.
//!
//! - A local time that does not exist (the clock springs forward over it)
//!   runs at the first valid instant after it: the end of the gap, that
//!   is the transition instant.
//! - A local time that occurs twice (the clock falls back) runs once, at its
//!   first (earlier) occurrence.
//!
//! So a wall-clock time `N` runs at the earliest instant whose local time is
//! `N` or later. That mapping never decreases with `N`, which the searches
//! below rely on. Several local times in a gap map to the same instant,
//! which runs once.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::cadence::Cadence;

/// A search gives up this far from where it started: a cadence that matches
/// at all matches within eight years (a leap day).
const SEARCH_SPAN: TimeDelta = TimeDelta::days(8 * 366);

/// UTC offsets stay well within this, so one side of a gap is no further
/// from the wall-clock time read as UTC.
const MAX_OFFSET: i64 = 36 * 3600;

/// The instant at which a scheduled wall-clock time `local` runs in `tz`:
/// itself when it exists once, its first occurrence when it exists twice,
/// the end of the gap when it does not exist. `None` only beyond chrono's
/// range of dates.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.to_utc()),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first instant whose local time is at or after `local`, which lies in
/// a gap: the transition that ends the gap.
///
/// A binary search over whole seconds between two instants whose local
/// times lie on either side of `local` stops at a second whose local time
/// jumps over `local`; only the transition that skips `local` does that.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let reaches = |seconds: i64| -> Option<bool> {
        let at = DateTime::from_timestamp(seconds, 0)?;
        Some(at.with_timezone(&tz).naive_local() >= local)
    };
    let guess = local.and_utc().timestamp();
    let (mut before, mut after) = (guess - MAX_OFFSET, guess + MAX_OFFSET);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if reaches(middle)? {
            after = middle;
        } else {
            before = middle;
        }
    }
    DateTime::from_timestamp(after, 0)
}

/// The wall-clock time in `tz` at `at`.
fn local_time(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

/// The first instant strictly after `after` at which `cadence` runs in
/// `tz`; `None` when it does not run within eight years.
pub fn next_after(cadence: &Cadence, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // A wall-clock time at or before `after`'s own runs at or before
    // `after`, so the candidates start past it; a few just past it may still
    // run earlier (`after` in the second pass of a repeated hour).
    let start = local_time(tz, after);
    let limit = start
        .checked_add_signed(SEARCH_SPAN)
        .unwrap_or(NaiveDateTime::MAX);
    let mut cursor = start;
    loop {
        let candidate = cadence.next_local(cursor).filter(|c| *c <= limit)?;
        let at = resolve_local(tz, candidate)?;
        if at > after {
            return Some(at);
        }
        cursor = candidate;
    }
}

/// The latest instant in `(after_exclusive, now]` at which `cadence` runs
/// in `tz`: what a scheduler that was down runs once when it is back.
/// `None` when no run was missed.
pub fn last_at_or_before(
    cadence: &Cadence,
    tz: Tz,
    after_exclusive: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if now <= after_exclusive {
        return None;
    }
    // Past `now`'s wall-clock time, candidates run after `now`, except in a
    // repeated hour whose second pass holds `now`: `upper` covers the first
    // pass, and the candidates that run after `now` are passed over.
    let local_now = local_time(tz, now);
    let upper = local_now.checked_add_signed(now - resolve_local(tz, local_now)?)?;
    let floor = upper
        .checked_sub_signed(SEARCH_SPAN)
        .unwrap_or(NaiveDateTime::MIN);
    let mut cursor = upper;
    loop {
        let candidate = cadence.last_local(cursor).filter(|c| *c >= floor)?;
        let at = resolve_local(tz, candidate)?;
        if at <= now {
            return (at > after_exclusive).then_some(at);
        }
        cursor = candidate.checked_sub_signed(TimeDelta::seconds(1))?;
    }
}

/// The instants in `(after, until]` at which `cadence` runs in `tz`, in
/// order, at most `limit` of them.
pub fn occurrences_between(
    cadence: &Cadence,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    std::iter::successors(next_after(cadence, tz, after), |at| {
        next_after(cadence, tz, *at)
    })
    .take_while(|at| *at <= until)
    .take(limit)
    .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;
    use proptest::prelude::*;

    use super::*;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn cron(expression: &str) -> Cadence {
        Cadence::from_cron(expression).unwrap()
    }

    fn daily(hour: u32, minute: u32) -> Cadence {
        Cadence::Daily { hour, minute }
    }

    fn runs(cadence: &Cadence, tz: Tz, after: &str, until: &str) -> Vec<String> {
        occurrences_between(cadence, tz, utc(after), utc(until), 1000)
            .iter()
            .map(|at| at.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    fn next(cadence: &Cadence, tz: Tz, after: &str) -> String {
        next_after(cadence, tz, utc(after))
            .unwrap()
            .format("%Y-%m-%dT%H:%MZ")
            .to_string()
    }

    #[test]
    fn resolves_existing_repeated_and_skipped_local_times() {
        let local = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            resolve_local(BERLIN, local("2026-07-01 08:00")),
            Some(utc("2026-07-01T06:00:00Z"))
        );
        // 02:00-03:00 does not exist on 2026-03-29: the gap ends at 01:00Z.
        for time in ["2026-03-29 02:00", "2026-03-29 02:30", "2026-03-29 02:59"] {
            assert_eq!(
                resolve_local(BERLIN, local(time)),
                Some(utc("2026-03-29T01:00:00Z"))
            );
        }
        // 02:00-03:00 occurs twice on 2026-10-25: the first is CEST.
        assert_eq!(
            resolve_local(BERLIN, local("2026-10-25 02:30")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // Lord Howe moves by half an hour.
        assert_eq!(
            resolve_local(chrono_tz::Australia::Lord_Howe, local("2026-10-04 02:15")),
            Some(utc("2026-10-03T15:30:00Z"))
        );
        // Samoa skipped 2011-12-30 entirely.
        assert_eq!(
            resolve_local(chrono_tz::Pacific::Apia, local("2011-12-30 12:00")),
            Some(utc("2011-12-30T10:00:00Z"))
        );
    }

    #[test]
    fn daily_in_berlin_across_spring_forward() {
        assert_eq!(
            runs(
                &daily(2, 30),
                BERLIN,
                "2026-03-27T12:00:00Z",
                "2026-03-31T12:00:00Z"
            ),
            [
                "2026-03-28T01:30Z",
                "2026-03-29T01:00Z", // 02:30 does not exist: 03:00 CEST
                "2026-03-30T00:30Z",
                "2026-03-31T00:30Z",
            ]
        );
    }

    #[test]
    fn daily_in_berlin_across_fall_back() {
        assert_eq!(
            runs(
                &daily(2, 30),
                BERLIN,
                "2026-10-23T12:00:00Z",
                "2026-10-27T12:00:00Z"
            ),
            [
                "2026-10-24T00:30Z",
                "2026-10-25T00:30Z", // 02:30 CEST, not again at 02:30 CET
                "2026-10-26T01:30Z",
                "2026-10-27T01:30Z",
            ]
        );
    }

    #[test]
    fn daily_in_new_york_across_both_transitions() {
        assert_eq!(
            runs(
                &daily(2, 30),
                NEW_YORK,
                "2026-03-07T00:00:00Z",
                "2026-03-09T23:00:00Z"
            ),
            [
                "2026-03-07T07:30Z",
                "2026-03-08T07:00Z", // 03:00 EDT
                "2026-03-09T06:30Z",
            ]
        );
        assert_eq!(
            runs(
                &daily(1, 30),
                NEW_YORK,
                "2026-10-31T00:00:00Z",
                "2026-11-02T23:00:00Z"
            ),
            [
                "2026-10-31T05:30Z",
                "2026-11-01T05:30Z", // 01:30 EDT, not again at 01:30 EST
                "2026-11-02T06:30Z",
            ]
        );
    }

    #[test]
    fn hourly_cron_across_spring_forward() {
        assert_eq!(
            runs(
                &cron("0 * * * *"),
                BERLIN,
                "2026-03-28T23:30:00Z",
                "2026-03-29T02:30:00Z"
            ),
            [
                "2026-03-29T00:00Z", // 01:00 CET
                "2026-03-29T01:00Z", // 02:00 does not exist and 03:00 CEST is the same instant
                "2026-03-29T02:00Z", // 04:00 CEST
            ]
        );
        assert_eq!(
            runs(
                &cron("*/30 * * * *"),
                BERLIN,
                "2026-03-28T23:45:00Z",
                "2026-03-29T02:00:00Z"
            ),
            [
                "2026-03-29T00:00Z",
                "2026-03-29T00:30Z",
                "2026-03-29T01:00Z", // 02:00, 02:30 and 03:00 all run once here
                "2026-03-29T01:30Z",
                "2026-03-29T02:00Z",
            ]
        );
    }

    #[test]
    fn hourly_cron_across_spring_forward_in_new_york() {
        assert_eq!(
            runs(
                &cron("0 * * * *"),
                NEW_YORK,
                "2026-03-08T05:30:00Z",
                "2026-03-08T08:00:00Z"
            ),
            [
                "2026-03-08T06:00Z", // 01:00 EST
                "2026-03-08T07:00Z", // 02:00 does not exist; 03:00 EDT
                "2026-03-08T08:00Z", // 04:00 EDT
            ]
        );
    }

    #[test]
    fn hourly_cron_across_fall_back() {
        assert_eq!(
            runs(
                &cron("0 * * * *"),
                BERLIN,
                "2026-10-24T23:30:00Z",
                "2026-10-25T03:00:00Z"
            ),
            [
                "2026-10-25T00:00Z", // 02:00 CEST
                "2026-10-25T02:00Z", // 03:00 CET; 02:00 CET (01:00Z) does not run again
                "2026-10-25T03:00Z",
            ]
        );
        assert_eq!(
            runs(
                &cron("*/30 * * * *"),
                NEW_YORK,
                "2026-11-01T04:45:00Z",
                "2026-11-01T07:30:00Z"
            ),
            [
                "2026-11-01T05:00Z", // 01:00 EDT
                "2026-11-01T05:30Z", // 01:30 EDT
                "2026-11-01T07:00Z", // 02:00 EST; 01:00 and 01:30 EST do not run again
                "2026-11-01T07:30Z",
            ]
        );
    }

    #[test]
    fn after_a_scheduled_instant_comes_the_next_one() {
        let hourly = cron("0 * * * *");
        assert_eq!(
            next(&hourly, BERLIN, "2026-07-01T06:00:00Z"),
            "2026-07-01T07:00Z"
        );
        assert_eq!(
            next(&hourly, BERLIN, "2026-07-01T05:59:59Z"),
            "2026-07-01T06:00Z"
        );
        // The gap's instant runs once.
        assert_eq!(
            next(&hourly, BERLIN, "2026-03-29T01:00:00Z"),
            "2026-03-29T02:00Z"
        );
        let instant = utc("2026-07-01T06:00:00.5Z");
        assert_eq!(
            next_after(&hourly, BERLIN, instant),
            Some(utc("2026-07-01T07:00:00Z"))
        );
    }

    #[test]
    fn after_inside_the_second_pass_of_a_repeated_hour() {
        // 01:10Z is 02:10 CET, the second 02:10 of 2026-10-25.
        let after = "2026-10-25T01:10:00Z";
        assert_eq!(next(&daily(2, 30), BERLIN, after), "2026-10-26T01:30Z");
        assert_eq!(next(&cron("0 * * * *"), BERLIN, after), "2026-10-25T02:00Z");
        assert_eq!(
            next(&cron("15 * * * *"), BERLIN, after),
            "2026-10-25T02:15Z"
        );
        // Inside the first pass, the rest of the first pass is ahead.
        assert_eq!(
            next(&cron("15 * * * *"), BERLIN, "2026-10-25T00:10:00Z"),
            "2026-10-25T00:15Z"
        );
    }

    #[test]
    fn weekly_and_monthly_presets() {
        let monday = Cadence::Weekly {
            weekday: Weekday::Mon,
            hour: 8,
            minute: 0,
        };
        assert_eq!(
            runs(
                &monday,
                BERLIN,
                "2026-03-20T00:00:00Z",
                "2026-04-07T00:00:00Z"
            ),
            [
                "2026-03-23T07:00Z",
                "2026-03-30T06:00Z",
                "2026-04-06T06:00Z"
            ]
        );
        let day31 = Cadence::Monthly {
            day: 31,
            hour: 8,
            minute: 0,
        };
        assert_eq!(
            runs(
                &day31,
                Tz::UTC,
                "2028-01-01T00:00:00Z",
                "2028-05-01T00:00:00Z"
            ),
            [
                "2028-01-31T08:00Z",
                "2028-02-29T08:00Z",
                "2028-03-31T08:00Z",
                "2028-04-30T08:00Z",
            ]
        );
        assert_eq!(
            next(&day31, Tz::UTC, "2027-01-31T08:00:00Z"),
            "2027-02-28T08:00Z"
        );
    }

    #[test]
    fn crons_in_a_time_zone() {
        assert_eq!(
            runs(
                &cron("0 8 * * 1-5"),
                NEW_YORK,
                "2026-11-06T00:00:00Z",
                "2026-11-10T00:00:00Z"
            ),
            ["2026-11-06T13:00Z", "2026-11-09T13:00Z"]
        );
        assert_eq!(
            next(&cron("0 9 1 * *"), BERLIN, "2026-12-01T08:00:00Z"),
            "2027-01-01T08:00Z"
        );
        assert_eq!(
            next(&cron("0 0 29 2 *"), BERLIN, "2024-02-28T23:00:00Z"),
            "2028-02-28T23:00Z"
        );
    }

    #[test]
    fn impossible_cadences_give_up() {
        // from_cron refuses these; a cadence built by hand still terminates.
        let never = Cadence::Cron {
            expression: "0 0 31 2 *".into(),
            parsed: Box::new("0 0 31 2 *".parse().unwrap()),
        };
        let now = utc("2026-01-01T00:00:00Z");
        assert_eq!(next_after(&never, BERLIN, now), None);
        assert_eq!(
            last_at_or_before(&never, BERLIN, utc("2020-01-01T00:00:00Z"), now),
            None
        );
        assert_eq!(next_after(&daily(25, 0), BERLIN, now), None);
    }

    #[test]
    fn the_latest_missed_run() {
        let hourly = cron("0 * * * *");
        let missed = |after: &str, now: &str| {
            last_at_or_before(&hourly, BERLIN, utc(after), utc(now))
                .map(|at| at.format("%Y-%m-%dT%H:%MZ").to_string())
        };
        assert_eq!(
            missed("2026-07-01T06:00:00Z", "2026-07-01T09:30:00Z").as_deref(),
            Some("2026-07-01T09:00Z")
        );
        assert_eq!(
            missed("2026-07-01T06:00:00Z", "2026-07-01T07:00:00Z").as_deref(),
            Some("2026-07-01T07:00Z")
        );
        assert_eq!(missed("2026-07-01T06:00:00Z", "2026-07-01T06:59:59Z"), None);
        assert_eq!(missed("2026-07-01T06:00:00Z", "2026-07-01T06:00:00Z"), None);
        assert_eq!(missed("2026-07-01T06:00:00Z", "2026-07-01T05:00:00Z"), None);
        // In the second pass of the repeated hour, 02:00 CEST (00:00Z) ran
        // and 03:00 CET (02:00Z) has not come yet.
        assert_eq!(
            missed("2026-10-24T12:00:00Z", "2026-10-25T01:30:00Z").as_deref(),
            Some("2026-10-25T00:00Z")
        );
        assert_eq!(
            last_at_or_before(
                &daily(2, 30),
                BERLIN,
                utc("2026-10-24T12:00:00Z"),
                utc("2026-10-25T01:10:00Z")
            ),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // A gap's instant.
        assert_eq!(
            last_at_or_before(
                &daily(2, 30),
                BERLIN,
                utc("2026-03-28T12:00:00Z"),
                utc("2026-03-29T01:00:00Z")
            ),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // A rare cron, years later.
        assert_eq!(
            last_at_or_before(
                &cron("0 0 29 2 *"),
                Tz::UTC,
                utc("2020-01-01T00:00:00Z"),
                utc("2027-06-01T00:00:00Z")
            ),
            Some(utc("2024-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn occurrences_are_capped() {
        let minutely = cron("* * * * *");
        let all = occurrences_between(
            &minutely,
            Tz::UTC,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-02-01T00:00:00Z"),
            10,
        );
        assert_eq!(all.len(), 10);
        assert_eq!(all[9], utc("2026-01-01T00:10:00Z"));
    }

    fn cadences() -> impl Strategy<Value = Cadence> {
        let crons = prop::sample::select(vec![
            "0 * * * *",
            "*/30 * * * *",
            "15,45 * * * *",
            "30 2 * * *",
            "0 8 * * 1-5",
            "0 9 1 * *",
            "0 0 29 2 *",
            "59 23 * * 0",
            "0 0 13 * 5",
            "*/7 1-3 * * *",
        ])
        .prop_map(cron);
        let time = || (0u32..24, prop::sample::select(vec![0u32, 15, 30, 59]));
        prop_oneof![
            crons,
            time().prop_map(|(hour, minute)| Cadence::Daily { hour, minute }),
            (0usize..7, time()).prop_map(|(day, (hour, minute))| Cadence::Weekly {
                weekday: crate::cadence::WEEKDAYS[day].0,
                hour,
                minute,
            }),
            (1u32..=31, time()).prop_map(|(day, (hour, minute))| Cadence::Monthly {
                day,
                hour,
                minute
            }),
        ]
    }

    fn zones() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            Tz::UTC,
            BERLIN,
            NEW_YORK,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Santiago,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Pacific::Chatham,
            chrono_tz::Europe::London,
        ])
    }

    /// Whether the local time at `at` is one the cadence names.
    fn matches(cadence: &Cadence, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = local_time(tz, at);
        cadence.next_local(local - TimeDelta::seconds(1)) == Some(local)
    }

    /// Whether the clock jumped forward at `at`.
    fn ends_a_gap(tz: Tz, at: DateTime<Utc>) -> bool {
        local_time(tz, at) - local_time(tz, at - TimeDelta::seconds(1)) > TimeDelta::seconds(1)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn runs_increase_and_match_the_cadence(
            cadence in cadences(),
            tz in zones(),
            // 2024-01-01 to 2030-01-01, on whole minutes half of the time.
            seconds in 1_704_067_200i64..1_893_456_000,
            on_a_minute in any::<bool>(),
        ) {
            let seconds = if on_a_minute { seconds - seconds.rem_euclid(60) } else { seconds };
            let after = DateTime::from_timestamp(seconds, 0).unwrap();
            let mut previous = after;
            for _ in 0..4 {
                let at = next_after(&cadence, tz, previous).unwrap();
                prop_assert!(at > previous);
                prop_assert!(
                    matches(&cadence, tz, at) || ends_a_gap(tz, at),
                    "{at} is {} in {tz}", local_time(tz, at)
                );
                // Nothing runs in between.
                prop_assert_eq!(last_at_or_before(&cadence, tz, previous, at), Some(at));
                prop_assert_eq!(
                    last_at_or_before(&cadence, tz, previous, at - TimeDelta::seconds(1)),
                    None
                );
                previous = at;
            }
        }
    }
}
