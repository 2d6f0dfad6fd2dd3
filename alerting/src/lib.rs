//! Alert rules and their evaluation (`alerts.md`), as pure logic: no I/O,
//! no clock, no async. The processor feeds it reports and the processing
//! time it commits with each snapshot, and gets back the transitions to
//! store and deliver; the query API uses it to validate rules and to
//! preview them against the current reports.
//!
//! # Layout
//!
//! - [`rule`] holds the stored rule ([`Rule`]) and its parts;
//! - [`validate`] checks what clients send ([`RuleInput`]) into a
//!   [`ValidRule`], with errors that name the field;
//! - [`report`] has the [`ReportView`] a rule looks at, and [`observe`];
//! - [`state`] is the state machine of one (rule, report) pair ([`step`],
//!   [`resolve`]);
//! - [`alert`] derives alert ids and describes [`Transition`]s;
//! - [`book`] keeps every pair of one campaign ([`AlertBook`]), persisted
//!   with the campaign;
//! - [`template`] renders messages.
//!
//! # Invariants
//!
//! - Same inputs (rules, reports, `now_ms`, stored book), same
//!   transitions with the same ids: a replay after a crash repeats what
//!   the committed run did.
//! - A pair's alert id depends on (rule, tenant, campaign, job, n-th
//!   firing) only; the firing count survives resolution and disabling.

pub mod alert;
pub mod book;
pub mod report;
pub mod rule;
pub mod state;
pub mod template;
pub mod validate;

mod time;

#[cfg(test)]
mod testkit;

pub use alert::{alert_id, AlertMeta, Transition, TransitionKind};
pub use book::{AlertBook, PairEntry, PairKey};
pub use report::{in_scope, observe, Activity, Observation, ReportView};
pub use rule::{Condition, Metric, Op, Rule, Scope, Severity, STATUSES};
pub use state::{resolve, step, PairState, Phase};
pub use template::{format_number, render, TransitionFields};
pub use validate::{validate_condition, RuleInput, ValidRule, ValidationError};
