//! Encoding records ahead of the producer, on worker threads, in production
//! order. Avro encoding costs a few microseconds per record, more than
//! handing a record to librdkafka, so one thread alone would hold the
//! producer well below what a broker takes.

use std::sync::mpsc;
use std::thread;

use schemas::error::EncodeError;
use schemas::Codec;

use super::error::LoadgenError;
use super::ordering::{OwnedRecord, Plan, Record};
use super::traffic::Traffic;

/// Records per unit of work.
const CHUNK: usize = 4096;
/// Encoded chunks each worker may hold ready.
const AHEAD: usize = 2;

/// Call `consume` with every record of `plan`, in order, encoded by
/// `workers` threads (at least one). Stops at the first error of either.
pub fn for_each_record<'a, F>(
    plan: &'a Plan,
    traffic: &'a Traffic,
    codec: &'a Codec,
    workers: usize,
    mut consume: F,
) -> Result<(), LoadgenError>
where
    F: FnMut(Record<'a>) -> Result<(), LoadgenError>,
{
    let workers = workers.max(1);
    let chunks: Vec<&[_]> = plan.items.chunks(CHUNK).collect();
    thread::scope(|scope| {
        // Worker w encodes chunks w, w + workers, ...; reading the workers'
        // channels in turn gives the chunks back in order.
        let mut receivers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Result<Vec<Record<'a>>, EncodeError>>(AHEAD);
            receivers.push(rx);
            let mine: Vec<&[_]> = chunks.iter().skip(w).step_by(workers).copied().collect();
            scope.spawn(move || {
                for chunk in mine {
                    let encoded: Result<Vec<Record<'a>>, EncodeError> = chunk
                        .iter()
                        .map(|item| plan.record(traffic, codec, *item))
                        .collect();
                    // A closed channel: the consumer stopped early.
                    if tx.send(encoded).is_err() {
                        return;
                    }
                }
            });
        }
        for c in 0..chunks.len() {
            let chunk = receivers[c % workers]
                .recv()
                .map_err(|_| LoadgenError::EncoderStopped)??;
            for record in chunk {
                consume(record)?;
            }
        }
        Ok(())
    })
}

/// Every record of `plan`, encoded by `workers` threads, in order.
pub fn encode_all(
    plan: &Plan,
    traffic: &Traffic,
    codec: &Codec,
    workers: usize,
) -> Result<Vec<OwnedRecord>, LoadgenError> {
    let mut records = Vec::with_capacity(plan.items.len());
    for_each_record(plan, traffic, codec, workers, |r| {
        records.push(OwnedRecord::of(r));
        Ok(())
    })?;
    Ok(records)
}
