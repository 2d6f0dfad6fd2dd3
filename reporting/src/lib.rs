//! Scheduled reports and saved dashboards, pure: the logic behind report
//! definitions, templates, schedules and dashboards, with no I/O and no
//! clock (callers pass "now" and "today").
//!
//! - [`definition`]: a report definition ([`DefinitionInput`]) checked into
//!   a [`ValidDefinition`]: its [`Kind`], [`Parameters`] and [`Format`]s.
//! - [`dashboard`]: a saved dashboard ([`DashboardInput`]) checked into a
//!   [`ValidDashboard`]: its [`Widget`]s with their parameters.
//! - [`range`]: report date ranges ([`RangeInput`]) in the tenant's
//!   calendar.
//! - [`templates`]: the system [`Template`]s and [`instantiate`].
//! - [`schedule`]: a schedule ([`ScheduleInput`]) checked into a
//!   [`ValidSchedule`]: a [`Cadence`] in an IANA time zone, its
//!   [`Recipient`]s, enabled or not, and its [`MissedPolicy`].
//! - [`cadence`]: cron expressions and presets as wall-clock times.
//! - [`occurrence`]: when a cadence runs, as instants, under the DST rule:
//!   a local time that does not exist runs when its gap ends, one that
//!   occurs twice runs once, at its first occurrence.
//! - [`recipient`]: e-mail addresses and webhook URLs.
//! - [`due`]: what the scheduler does with a due schedule (on time, or
//!   missed while the system was down: run once or skip).
//!
//! ```
//! use reporting::ScheduleInput;
//!
//! let input = ScheduleInput::from_json(
//!     r#"{"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"},
//!         "recipients": ["anna@example.com"]}"#,
//! )?;
//! let schedule = input.validate("Europe/Berlin")?;
//! assert_eq!(schedule.describe(), "every Monday at 08:00 (Europe/Berlin)");
//! let now = "2026-11-04T12:00:00Z".parse().unwrap_or_default();
//! let next = schedule.next_after(now).map(|at| at.to_rfc3339());
//! assert_eq!(next.as_deref(), Some("2026-11-09T07:00:00+00:00"));
//! # Ok::<(), reporting::ValidationError>(())
//! ```
//!
//! Every bad input is a [`ValidationError`] whose message names the field
//! and what it allows (`<field>: <what is wrong; what is allowed>`), for the
//! API's 400 answers.

#![warn(missing_docs)]

pub mod cadence;
pub mod dashboard;
pub mod definition;
pub mod due;
pub mod error;
mod fields;
pub mod occurrence;
pub mod range;
pub mod recipient;
pub mod schedule;
pub mod templates;

pub use cadence::Cadence;
pub use dashboard::{
    DashboardInput, Metric, SortSpec, TableSort, ValidDashboard, Widget, WidgetSpec,
};
pub use definition::{DefinitionInput, Format, Granularity, Kind, Parameters, ValidDefinition};
pub use error::ValidationError;
pub use occurrence::{last_at_or_before, next_after, occurrences_between, resolve_local};
pub use range::RangeInput;
pub use recipient::Recipient;
pub use schedule::{MissedPolicy, PresetInput, ScheduleInput, ValidSchedule};
pub use templates::{instantiate, system_template, system_templates, Template};
