//! A report definition's schedule as a client sends it ([`ScheduleInput`])
//! and checked ([`ValidSchedule`]): when it runs (a [`Cadence`] in an IANA
//! time zone), who receives the runs, whether it is enabled, and what to do
//! about runs missed while the system was down.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::cadence::{weekday_name, Cadence, WEEKDAYS};
use crate::error::{invalid, ValidationError};
use crate::occurrence;
use crate::recipient::Recipient;

/// At most this many recipients per schedule.
pub const MAX_RECIPIENTS: usize = 50;

/// A schedule as a client sends it (`PUT .../schedule`), and as it is
/// stored and answered ([`ValidSchedule`] serializes to this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// A standard 5-field cron expression; exactly one of `cron` and
    /// `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// A daily, weekly or monthly preset; exactly one of `cron` and
    /// `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PresetInput>,
    /// An IANA time zone name; default: the tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// E-mail addresses and webhook URLs, at most [`MAX_RECIPIENTS`].
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Default true; false is a paused schedule.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// What to do about runs missed while the system was down.
    #[serde(default)]
    pub missed: MissedPolicy,
}

fn enabled_by_default() -> bool {
    true
}

/// A preset cadence, tagged by `type`; `time` is `HH:MM` (00:00 to 23:59).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum PresetInput {
    /// `{"type": "daily", "time": "08:00"}`
    Daily {
        /// `HH:MM`.
        time: String,
    },
    /// `{"type": "weekly", "weekday": "monday", "time": "08:00"}`
    Weekly {
        /// An English weekday name or its first three letters, any case.
        weekday: String,
        /// `HH:MM`.
        time: String,
    },
    /// `{"type": "monthly", "day": 31, "time": "08:00"}`
    Monthly {
        /// 1 to 31; past the month's end means its last day.
        day: u32,
        /// `HH:MM`.
        time: String,
    },
}

/// What the scheduler does when it finds scheduled times that passed while
/// it was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissedPolicy {
    /// Run once, for the latest missed time (the default).
    #[default]
    Once,
    /// Run nothing for missed times; wait for the next one.
    Skip,
}

/// A checked [`ScheduleInput`]; serializes back to the input's shape, with
/// the time zone always spelled out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "ScheduleInput")]
pub struct ValidSchedule {
    cadence: Cadence,
    timezone: Tz,
    recipients: Vec<Recipient>,
    enabled: bool,
    missed: MissedPolicy,
}

impl ScheduleInput {
    /// Parses a request body; a malformed body (bad JSON, an unknown or
    /// missing field, a wrong type) is a [`ValidationError`] carrying
    /// serde's description.
    pub fn from_json(body: &str) -> Result<ScheduleInput, ValidationError> {
        serde_json::from_str(body).map_err(|e| invalid(format!("invalid schedule: {e}")))
    }

    /// Checks every field; the first problem found is the error. Without a
    /// `timezone`, `default_tz` (the tenant's) is used and kept, so that the
    /// schedule does not move if the tenant's zone changes later.
    pub fn validate(&self, default_tz: &str) -> Result<ValidSchedule, ValidationError> {
        let cadence = match (&self.cron, &self.preset) {
            (Some(_), Some(_)) => {
                return Err(invalid("cron: give either cron or preset, not both"))
            }
            (None, None) => {
                return Err(invalid(
                    "preset: missing; give either cron (a 5-field expression) or preset \
                     (daily, weekly or monthly)",
                ))
            }
            (Some(cron), None) => Cadence::from_cron(cron)?,
            (None, Some(preset)) => preset.cadence()?,
        };
        Ok(ValidSchedule {
            cadence,
            timezone: time_zone(self.timezone.as_deref().unwrap_or(default_tz))?,
            recipients: recipients(&self.recipients)?,
            enabled: self.enabled,
            missed: self.missed,
        })
    }
}

impl PresetInput {
    /// The checked cadence.
    pub fn cadence(&self) -> Result<Cadence, ValidationError> {
        Ok(match self {
            PresetInput::Daily { time } => {
                let (hour, minute) = parse_time(time)?;
                Cadence::Daily { hour, minute }
            }
            PresetInput::Weekly { weekday, time } => {
                let weekday = parse_weekday(weekday)?;
                let (hour, minute) = parse_time(time)?;
                Cadence::Weekly {
                    weekday,
                    hour,
                    minute,
                }
            }
            PresetInput::Monthly { day, time } => {
                if !(1..=31).contains(day) {
                    return Err(invalid(format!(
                        "preset.day: {day} is not a day of the month; use 1 to 31 \
                         (past the month's end means its last day)"
                    )));
                }
                let (hour, minute) = parse_time(time)?;
                Cadence::Monthly {
                    day: *day,
                    hour,
                    minute,
                }
            }
        })
    }
}

impl ValidSchedule {
    /// When the schedule runs.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// The time zone its wall-clock times are in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Who receives its runs, in the order given.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// False while paused.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Pauses (`false`) or resumes (`true`) the schedule.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// What to do about missed runs.
    pub fn missed(&self) -> MissedPolicy {
        self.missed
    }

    /// An English description such as "every Monday at 08:00
    /// (Europe/Berlin)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.cadence.describe(), self.timezone.name())
    }

    /// The first run strictly after `after` (see
    /// [`occurrence::next_after`]); whether the schedule is enabled is the
    /// caller's business.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        occurrence::next_after(&self.cadence, self.timezone, after)
    }

    /// The latest run in `(after_exclusive, now]` (see
    /// [`occurrence::last_at_or_before`]).
    pub fn last_at_or_before(
        &self,
        after_exclusive: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        occurrence::last_at_or_before(&self.cadence, self.timezone, after_exclusive, now)
    }
}

impl From<ValidSchedule> for ScheduleInput {
    fn from(schedule: ValidSchedule) -> ScheduleInput {
        let (cron, preset) = match schedule.cadence {
            Cadence::Cron { expression, .. } => (Some(expression), None),
            Cadence::Daily { hour, minute } => (
                None,
                Some(PresetInput::Daily {
                    time: format_time(hour, minute),
                }),
            ),
            Cadence::Weekly {
                weekday,
                hour,
                minute,
            } => (
                None,
                Some(PresetInput::Weekly {
                    weekday: weekday_name(weekday).to_owned(),
                    time: format_time(hour, minute),
                }),
            ),
            Cadence::Monthly { day, hour, minute } => (
                None,
                Some(PresetInput::Monthly {
                    day,
                    time: format_time(hour, minute),
                }),
            ),
        };
        ScheduleInput {
            cron,
            preset,
            timezone: Some(schedule.timezone.name().to_owned()),
            recipients: schedule.recipients.iter().map(|r| r.to_string()).collect(),
            enabled: schedule.enabled,
            missed: schedule.missed,
        }
    }
}

fn time_zone(name: &str) -> Result<Tz, ValidationError> {
    Tz::from_str(name.trim()).map_err(|_| {
        invalid(format!(
            "timezone: unknown time zone \"{name}\"; use an IANA name such as Europe/Berlin"
        ))
    })
}

fn recipients(texts: &[String]) -> Result<Vec<Recipient>, ValidationError> {
    if texts.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "recipients: at most {MAX_RECIPIENTS}, got {}",
            texts.len()
        )));
    }
    let mut seen = HashMap::new();
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let recipient = Recipient::parse(text, &format!("recipients[{index}]"))?;
            match seen.insert(recipient.identity(), index) {
                None => Ok(recipient),
                Some(first) => Err(invalid(format!(
                    "recipients[{index}]: \"{recipient}\" is listed twice \
                     (also recipients[{first}])"
                ))),
            }
        })
        .collect()
}

/// `HH:MM`, two digits each, from 00:00 to 23:59.
fn parse_time(text: &str) -> Result<(u32, u32), ValidationError> {
    let two_digits = |part: &str| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    text.split_once(':')
        .and_then(|(hour, minute)| Some((two_digits(hour)?, two_digits(minute)?)))
        .filter(|(hour, minute)| *hour < 24 && *minute < 60)
        .ok_or_else(|| {
            invalid(format!(
                "preset.time: \"{text}\" is not a time; use HH:MM, from 00:00 to 23:59"
            ))
        })
}

fn parse_weekday(text: &str) -> Result<chrono::Weekday, ValidationError> {
    let lower = text.trim().to_lowercase();
    WEEKDAYS
        .iter()
        .find(|(_, name)| *name == lower || name[..3] == lower)
        .map(|(weekday, _)| *weekday)
        .ok_or_else(|| {
            invalid(format!(
                "preset.weekday: unknown weekday \"{text}\"; use monday to sunday (or mon to sun)"
            ))
        })
}

fn format_time(hour: u32, minute: u32) -> String {
    format!("{hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;
    use serde_json::{json, Value};

    use super::*;

    fn input(value: Value) -> ScheduleInput {
        serde_json::from_value(value).unwrap()
    }

    fn valid(value: Value) -> ValidSchedule {
        input(value).validate("Europe/Berlin").unwrap()
    }

    fn error(value: Value) -> String {
        input(value).validate("Europe/Berlin").unwrap_err().0
    }

    #[test]
    fn applies_the_defaults() {
        let schedule = valid(json!({"cron": "0 8 * * 1"}));
        assert_eq!(schedule.timezone(), chrono_tz::Europe::Berlin);
        assert!(schedule.enabled());
        assert_eq!(schedule.missed(), MissedPolicy::Once);
        assert!(schedule.recipients().is_empty());
    }

    #[test]
    fn reads_every_preset() {
        let weekly =
            valid(json!({"preset": {"type": "weekly", "weekday": "Mon", "time": "08:00"}}));
        assert_eq!(
            *weekly.cadence(),
            Cadence::Weekly {
                weekday: Weekday::Mon,
                hour: 8,
                minute: 0
            }
        );
        for (text, weekday) in [
            ("sunday", Weekday::Sun),
            ("wed", Weekday::Wed),
            ("FRIDAY", Weekday::Fri),
        ] {
            let schedule =
                valid(json!({"preset": {"type": "weekly", "weekday": text, "time": "23:59"}}));
            assert!(
                matches!(schedule.cadence(), Cadence::Weekly { weekday: w, .. } if *w == weekday)
            );
        }
        let daily = valid(json!({"preset": {"type": "daily", "time": "00:00"}}));
        assert_eq!(*daily.cadence(), Cadence::Daily { hour: 0, minute: 0 });
        let monthly = valid(json!({"preset": {"type": "monthly", "day": 31, "time": "08:30"}}));
        assert_eq!(
            *monthly.cadence(),
            Cadence::Monthly {
                day: 31,
                hour: 8,
                minute: 30
            }
        );
    }

    #[test]
    fn exactly_one_of_cron_and_preset() {
        assert_eq!(
            error(json!({"cron": "0 8 * * 1", "preset": {"type": "daily", "time": "08:00"}})),
            "cron: give either cron or preset, not both"
        );
        assert_eq!(
            error(json!({"recipients": []})),
            "preset: missing; give either cron (a 5-field expression) or preset (daily, weekly or monthly)"
        );
    }

    #[test]
    fn rejects_bad_presets() {
        for time in [
            "8:00", "24:00", "12:60", "12-00", "1200", "ab:cd", "+1:00", "",
        ] {
            assert_eq!(
                error(json!({"preset": {"type": "daily", "time": time}})),
                format!("preset.time: \"{time}\" is not a time; use HH:MM, from 00:00 to 23:59")
            );
        }
        assert_eq!(
            error(json!({"preset": {"type": "weekly", "weekday": "mo", "time": "08:00"}})),
            "preset.weekday: unknown weekday \"mo\"; use monday to sunday (or mon to sun)"
        );
        for day in [0, 32] {
            assert_eq!(
                error(json!({"preset": {"type": "monthly", "day": day, "time": "08:00"}})),
                format!(
                    "preset.day: {day} is not a day of the month; use 1 to 31 \
                     (past the month's end means its last day)"
                )
            );
        }
    }

    #[test]
    fn rejects_unknown_fields_and_types() {
        let unknown = ScheduleInput::from_json(r#"{"cron": "0 8 * * 1", "every": "day"}"#);
        assert!(unknown
            .unwrap_err()
            .0
            .starts_with("invalid schedule: unknown field `every`"));
        let in_preset = ScheduleInput::from_json(
            r#"{"preset": {"type": "daily", "time": "08:00", "weekday": "mon"}}"#,
        );
        assert!(in_preset.unwrap_err().0.contains("unknown field `weekday`"));
        let preset_type = ScheduleInput::from_json(r#"{"preset": {"type": "hourly"}}"#);
        assert!(preset_type
            .unwrap_err()
            .0
            .contains("unknown variant `hourly`"));
        let missed = ScheduleInput::from_json(r#"{"cron": "0 8 * * 1", "missed": "all"}"#);
        assert!(missed.unwrap_err().0.contains("unknown variant `all`"));
        let skip = ScheduleInput::from_json(r#"{"cron": "0 8 * * 1", "missed": "skip"}"#);
        assert_eq!(skip.unwrap().missed, MissedPolicy::Skip);
    }

    #[test]
    fn checks_the_time_zone() {
        let schedule = valid(json!({"cron": "0 8 * * 1", "timezone": "America/New_York"}));
        assert_eq!(schedule.timezone(), chrono_tz::America::New_York);
        assert_eq!(
            error(json!({"cron": "0 8 * * 1", "timezone": "Mars/Olympus"})),
            "timezone: unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Berlin"
        );
        let bad_default = input(json!({"cron": "0 8 * * 1"}))
            .validate("CEST")
            .unwrap_err();
        assert_eq!(
            bad_default.0,
            "timezone: unknown time zone \"CEST\"; use an IANA name such as Europe/Berlin"
        );
    }

    #[test]
    fn checks_the_recipients() {
        let schedule = valid(json!({
            "cron": "0 8 * * 1",
            "recipients": ["anna@example.com", " https://hooks.example.com/r "],
        }));
        assert_eq!(
            schedule.recipients(),
            [
                Recipient::Email("anna@example.com".into()),
                Recipient::Webhook("https://hooks.example.com/r".into())
            ]
        );
        assert_eq!(
            error(json!({"cron": "0 8 * * 1", "recipients": ["a@example.com", "b@example.com", "nobody"]})),
            "recipients[2]: \"nobody\" is neither an e-mail address (name@example.com) nor an http(s) URL"
        );
        assert_eq!(
            error(
                json!({"cron": "0 8 * * 1", "recipients": ["a@example.com", "b@example.com", "A@Example.com"]})
            ),
            "recipients[2]: \"A@Example.com\" is listed twice (also recipients[0])"
        );
        let many: Vec<String> = (0..=MAX_RECIPIENTS)
            .map(|i| format!("u{i}@example.com"))
            .collect();
        assert_eq!(
            error(json!({"cron": "0 8 * * 1", "recipients": many})),
            "recipients: at most 50, got 51"
        );
        let enough = &many[..MAX_RECIPIENTS];
        assert!(input(json!({"cron": "0 8 * * 1", "recipients": enough}))
            .validate("UTC")
            .is_ok());
    }

    #[test]
    fn passes_cron_errors_on() {
        assert!(
            error(json!({"cron": "0 8 * * * *"})).starts_with("cron: \"0 8 * * * *\" has 6 fields")
        );
    }

    #[test]
    fn serializes_back_to_the_input_shape() {
        for value in [
            json!({"cron": "0 8 * * 1-5", "timezone": "Europe/Berlin", "recipients": ["a@example.com"], "enabled": false, "missed": "skip"}),
            json!({"preset": {"type": "daily", "time": "07:05"}, "timezone": "UTC", "recipients": [], "enabled": true, "missed": "once"}),
            json!({"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"}, "timezone": "Asia/Tokyo", "recipients": ["https://example.com/h"], "enabled": true, "missed": "once"}),
            json!({"preset": {"type": "monthly", "day": 31, "time": "23:59"}, "timezone": "UTC", "recipients": [], "enabled": true, "missed": "once"}),
        ] {
            let schedule = valid(value.clone());
            let stored = serde_json::to_value(&schedule).unwrap();
            assert_eq!(stored, value);
            let again = input(stored).validate("UTC").unwrap();
            assert_eq!(again, schedule);
        }
    }

    #[test]
    fn serializes_canonically() {
        let schedule = valid(
            json!({"cron": " 0  8 * * 1 ", "preset": null, "recipients": [" a@example.com"]}),
        );
        assert_eq!(
            serde_json::to_value(&schedule).unwrap(),
            json!({"cron": "0 8 * * 1", "timezone": "Europe/Berlin", "recipients": ["a@example.com"], "enabled": true, "missed": "once"})
        );
        let weekly =
            valid(json!({"preset": {"type": "weekly", "weekday": "TUE", "time": "09:15"}}));
        assert_eq!(
            serde_json::to_value(&weekly).unwrap()["preset"],
            json!({"type": "weekly", "weekday": "tuesday", "time": "09:15"})
        );
    }

    #[test]
    fn describes_with_the_time_zone() {
        let weekly =
            valid(json!({"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"}}));
        assert_eq!(weekly.describe(), "every Monday at 08:00 (Europe/Berlin)");
        let cron = valid(json!({"cron": "0 8 * * 1-5", "timezone": "UTC"}));
        assert_eq!(cron.describe(), "cron \"0 8 * * 1-5\" (UTC)");
    }

    #[test]
    fn pauses_and_resumes() {
        let mut schedule = valid(json!({"cron": "0 8 * * 1"}));
        schedule.set_enabled(false);
        assert!(!schedule.enabled());
        assert_eq!(
            serde_json::to_value(&schedule).unwrap()["enabled"],
            json!(false)
        );
        schedule.set_enabled(true);
        assert!(schedule.enabled());
    }

    #[test]
    fn computes_runs_in_its_time_zone() {
        let schedule =
            valid(json!({"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"}}));
        let after: DateTime<Utc> = "2026-11-04T12:00:00Z".parse().unwrap();
        let next = schedule.next_after(after).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-09T07:00:00+00:00");
        assert_eq!(schedule.last_at_or_before(after, next), Some(next));
        assert_eq!(schedule.last_at_or_before(next, next), None);
    }
}
