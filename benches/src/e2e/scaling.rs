//! The scaling curve: the catch-up case for every (records, partitions per
//! instance) of the grid.

use super::catchup::{case, Case};
use super::Bench;

/// Every cell of the grid, records-major; stops at the first failing cell
/// and returns the cells measured before it with the error.
pub async fn run(bench: &Bench) -> (Vec<Case>, Option<anyhow::Error>) {
    let options = &bench.options;
    let mut cells = Vec::new();
    for &records in &options.scaling_events {
        for &partitions in &options.scaling_partitions {
            let label = format!("scaling {records}x{partitions}p");
            let repeats = options.repeats_for(records, true);
            match case(bench, &label, records, partitions, repeats).await {
                Ok(cell) => cells.push(cell),
                Err(e) => return (cells, Some(e.context(label))),
            }
        }
    }
    (cells, None)
}
