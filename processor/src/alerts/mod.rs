//! Alert rules in, alert transitions out (alerts.md; ARCHITECTURE.md,
//! "Alerts"). The rules come from the rules topic, which every processor
//! reads in full into the [`RuleBoard`] (`kafka::table_reader`); the
//! engine evaluates them on the state each snapshot commits and hands the
//! transitions of a committed snapshot to an [`AlertSink`]
//! (`kafka::alert_publisher`: the alerts topic).

pub mod board;

use alerting::Transition;
use tokio::task::JoinHandle;

pub use board::RuleBoard;

/// Where committed transitions go. `publish` returns a task that ends once
/// every transition is durably handed over (retrying until then); the
/// engine waits for it before its next checkpoint, so a crash can lose no
/// transition that a later checkpoint passed.
pub trait AlertSink: Send + Sync + 'static {
    fn publish(&self, transitions: Vec<Transition>) -> JoinHandle<()>;
}
