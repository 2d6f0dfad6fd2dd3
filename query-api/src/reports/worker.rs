//! The report worker: claims a due run (a lease in PostgreSQL, renewed by
//! a heartbeat that also records progress), reads its data through the
//! read model, renders every format in one pass on a blocking thread,
//! uploads the files to the file store under the run's attempt, and
//! finishes the run with its files and deliveries in one transaction,
//! only while it still holds the lease.
//!
//! Crash safety: a worker that dies leaves its run `running` with a lease
//! that runs out; another worker claims it (attempt n + 1) and renders it
//! again under a new key prefix. The files of the attempt that finishes
//! are the run's; the others are removed. A worker that lost its lease
//! (cancelled, or taken over while it was paused) stops at its next
//! heartbeat and never finishes the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use metadata::reports::{ClaimedRun, NewFile};
use metadata::{EventListener, MetadataError};
use report_render::{Fanout, Meta, RenderedFile};
use tokio::sync::{mpsc, watch};

use super::data::{produce, DataError, Item, Produced};
use super::spec::RunSpec;
use super::Reports;
use crate::read::Reader;

/// Items buffered between the reader and the renderers.
const PIPE: usize = 1024;

/// Why a run attempt failed.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// Retrying cannot help (the definition or its data do not exist).
    #[error("{0}")]
    Permanent(String),
    /// A later attempt may succeed (ClickHouse, the store, the disk).
    #[error("{0}")]
    Transient(String),
    /// The worker no longer holds the run: stop without a word.
    #[error("the run was cancelled or taken over")]
    LostLease,
}

impl From<MetadataError> for RunError {
    fn from(e: MetadataError) -> Self {
        RunError::Transient(e.to_string())
    }
}

/// The loop of one worker slot.
pub async fn run_worker<R: Reader>(reports: Arc<Reports>, reader: R, slot: usize) {
    let worker = format!("{}-{slot}", reports.settings.worker_id);
    tracing::info!(%worker, "report worker started");
    let mut listener: Option<EventListener> = None;
    let mut failing = false;
    loop {
        if listener.is_none() {
            listener = reports.metadata.listen_runs().await.ok();
        }
        match reports
            .metadata
            .claim_run(&worker, reports.settings.lease)
            .await
        {
            Ok(Some(claimed)) => {
                failing = false;
                execute(&reports, &reader, &worker, claimed).await;
                continue;
            }
            Ok(None) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "report worker: claiming runs failed; retrying");
                }
                failing = true;
            }
        }
        EventListener::idle(&mut listener, reports.settings.poll_interval).await;
    }
}

/// Run one claimed attempt to its end and record the outcome.
async fn execute<R: Reader>(reports: &Reports, reader: &R, worker: &str, claimed: ClaimedRun) {
    let run = &claimed.run;
    let started = std::time::Instant::now();
    tracing::info!(run = %run.id, tenant = %run.tenant_id, attempt = claimed.attempt, "report run started");
    let result = attempt(reports, reader, worker, &claimed).await;
    let metadata = &reports.metadata;
    let outcome = match result {
        Ok(()) => "succeeded",
        Err(RunError::LostLease) => "abandoned",
        Err(RunError::Permanent(e)) => {
            tracing::warn!(run = %run.id, error = %e, "report run failed");
            let _ = metadata.fail_run(&run.id, worker, &e, None).await;
            "failed"
        }
        Err(RunError::Transient(e)) => {
            let wait = reports.settings.retry_backoff(claimed.attempt);
            tracing::warn!(run = %run.id, error = %e, retry_in = ?wait, "report run attempt failed");
            let _ = metadata.fail_run(&run.id, worker, &e, Some(wait)).await;
            "retry"
        }
    };
    reports.metrics.observe_run(outcome, started.elapsed());
    tracing::info!(run = %run.id, outcome, elapsed_ms = started.elapsed().as_millis() as u64, "report run ended");
}

async fn attempt<R: Reader>(
    reports: &Reports,
    reader: &R,
    worker: &str,
    claimed: &ClaimedRun,
) -> Result<(), RunError> {
    let run = &claimed.run;
    let zone = reports.zones.zone(&run.tenant_id);
    let today = Utc::now().with_timezone(&zone).date_naive();
    let spec = RunSpec::from_definition(&run.definition, today).map_err(RunError::Permanent)?;
    let scratch = reports
        .settings
        .scratch_dir
        .join(format!("{}-{}", run.id, claimed.attempt));
    let _cleanup = ScratchDir::create(&scratch).map_err(RunError::Transient)?;
    let meta = Meta {
        title: spec.title.clone(),
        tenant: run.tenant_id.clone(),
        kind: spec.kind_name.clone(),
        parameters: spec.parameters.clone(),
        as_of: None,
        generated_at: Utc::now(),
        timezone: zone.name().to_owned(),
    };
    let heartbeat = Heartbeat::start(reports, worker, &run.id);
    let (produced, files) =
        render(reports, reader, claimed, &spec, meta, &scratch, &heartbeat).await?;

    // Upload under this attempt's prefix, then finish (fenced).
    let prefix = format!("{}/{}", run.tenant_id, run.id);
    let mut stored = Vec::with_capacity(files.len());
    for file in &files {
        let key = format!("{prefix}/{}/{}", claimed.attempt, file.file_name);
        let size = reports
            .store
            .upload(&key, &file.path)
            .await
            .map_err(|e| RunError::Transient(format!("storing {}: {e}", file.file_name)))?;
        stored.push(NewFile {
            format: file.format.as_str().to_owned(),
            storage_key: key,
            file_name: file.file_name.clone(),
            content_type: file.content_type.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
        });
    }
    if heartbeat.is_lost() {
        return Err(RunError::LostLease);
    }
    let rows = i64::try_from(produced.rows).unwrap_or(i64::MAX);
    let finished = reports
        .metadata
        .finish_run(
            &run.id,
            worker,
            produced.as_of,
            rows,
            &stored,
            reports.settings.retention,
        )
        .await?;
    if !finished {
        return Err(RunError::LostLease);
    }
    // Files of earlier attempts that died are no one's.
    let keep: Vec<String> = stored.iter().map(|f| f.storage_key.clone()).collect();
    if let Err(e) = reports.store.delete_prefix_except(&prefix, &keep).await {
        tracing::warn!(run = %run.id, error = %e, "removing files of abandoned attempts failed");
    }
    Ok(())
}

/// The lease renewal of an attempt, in a task of its own: every
/// `heartbeat` it renews the lease and records the progress; when the
/// worker no longer holds the run, `lost` turns true. Aborted on drop.
struct Heartbeat {
    handle: tokio::task::JoinHandle<()>,
    lost: watch::Receiver<bool>,
    rows: Arc<AtomicU64>,
    expected: Arc<AtomicU64>,
    /// Progress floor once the data is read (storing the files).
    floor: Arc<AtomicU64>,
}

impl Heartbeat {
    fn start(reports: &Reports, worker: &str, run_id: &str) -> Self {
        let (tx, lost) = watch::channel(false);
        let rows = Arc::new(AtomicU64::new(0));
        let expected = Arc::new(AtomicU64::new(0));
        let floor = Arc::new(AtomicU64::new(0));
        let metadata = reports.metadata.clone();
        let (every, lease) = (reports.settings.heartbeat, reports.settings.lease);
        let (worker, run_id) = (worker.to_owned(), run_id.to_owned());
        let (r, e, f) = (rows.clone(), expected.clone(), floor.clone());
        let handle = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (seen, total) = (r.load(Ordering::Relaxed), e.load(Ordering::Relaxed));
                // Reading and rendering are 90 %, storing the rest.
                let reading = seen
                    .saturating_mul(90)
                    .checked_div(total)
                    .map_or(0, |p| p.min(90));
                let progress = i32::try_from(reading.max(f.load(Ordering::Relaxed))).unwrap_or(0);
                let seen = i64::try_from(seen).unwrap_or(i64::MAX);
                match metadata
                    .heartbeat_run(&run_id, &worker, lease, progress, seen)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tx.send(true);
                        return;
                    }
                    // The lease outlasts several heartbeats: try again.
                    Err(e) => tracing::warn!(run = %run_id, error = %e, "report heartbeat failed"),
                }
            }
        });
        Heartbeat {
            handle,
            lost,
            rows,
            expected,
            floor,
        }
    }

    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Read and render; stops as soon as the heartbeat says the run is lost.
async fn render<R: Reader>(
    reports: &Reports,
    reader: &R,
    claimed: &ClaimedRun,
    spec: &RunSpec,
    meta: Meta,
    scratch: &Path,
    heartbeat: &Heartbeat,
) -> Result<(Produced, Vec<RenderedFile>), RunError> {
    let run = &claimed.run;
    let (tx, rx) = mpsc::channel::<Item>(PIPE);
    let files = FileSpec {
        meta,
        formats: spec.formats.clone(),
        dir: scratch.to_owned(),
        base_name: spec.base_name.clone(),
    };
    let renderer = tokio::task::spawn_blocking(move || drive(files, rx));

    let (rows, expected) = (heartbeat.rows.clone(), heartbeat.expected.clone());
    let on_row = move |n: u64, total: u64| {
        rows.store(n, Ordering::Relaxed);
        expected.store(total, Ordering::Relaxed);
    };
    let zone = reports.zones.zone(&run.tenant_id);
    let producing = async {
        let produced = produce(reader, &run.tenant_id, zone, &spec.kind, &tx, &on_row).await;
        drop(tx);
        produced
    };
    let mut lost = heartbeat.lost.clone();
    let produced = tokio::select! {
        produced = producing => produced,
        _ = lost.wait_for(|lost| *lost) => return Err(RunError::LostLease),
    };
    let rendered = renderer
        .await
        .map_err(|e| RunError::Transient(format!("the renderer task failed: {e}")))?;
    let produced = match produced {
        Ok(p) => p,
        Err(DataError::NotFound(e)) => return Err(RunError::Permanent(e)),
        Err(DataError::Closed) => {
            // The renderer stopped first: its error says why.
            let e = rendered
                .err()
                .unwrap_or_else(|| "the renderer stopped".to_owned());
            return Err(RunError::Transient(e));
        }
        Err(e) => return Err(RunError::Transient(e.to_string())),
    };
    let files = rendered.map_err(RunError::Transient)?;
    heartbeat.floor.store(95, Ordering::Relaxed);
    Ok((produced, files))
}

/// The files of an attempt: what the renderers start with.
struct FileSpec {
    meta: Meta,
    formats: Vec<report_render::Format>,
    dir: PathBuf,
    base_name: String,
}

/// Feed every item to the renderers (on a blocking thread). The files are
/// started at the first item, which says what they are as of.
fn drive(spec: FileSpec, mut rx: mpsc::Receiver<Item>) -> Result<Vec<RenderedFile>, String> {
    let Some(Item::Start { as_of }) = rx.blocking_recv() else {
        return Err("the data ended before it started".to_owned());
    };
    let meta = Meta { as_of, ..spec.meta };
    let mut fanout = Fanout::create(&spec.formats, &meta, &spec.dir, &spec.base_name)
        .map_err(|e| format!("starting the files: {e}"))?;
    while let Some(item) = rx.blocking_recv() {
        let result = match &item {
            Item::Start { .. } => Ok(()),
            Item::Chart(chart) => fanout.chart(chart),
            Item::Begin(table) => fanout.begin_table(table),
            Item::Row(row) => fanout.row(row),
            Item::End => fanout.end_table(),
        };
        result.map_err(|e| format!("rendering: {e}"))?;
    }
    fanout.finish().map_err(|e| format!("rendering: {e}"))
}

/// A scratch directory removed when the attempt ends, however it ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create(path: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("scratch directory {}: {e}", path.display()))?;
        Ok(ScratchDir(path.to_owned()))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
