//! A run's outcome and its Markdown section for RESULTS.md.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::catchup::Case;
use super::dlq::Dlq;
use super::freshness::Freshness;
use super::ingest::IngestBench;
use super::machine::{load_average, Machine};
use super::options::Options;
use super::query::QueryLatency;
use super::recovery::Recovery;

/// Generated sections go right below this line, newest first.
const MARKER: &str = "<!-- pipeline-bench: generated sections go below this line, newest first -->";

/// Everything one `pipeline-bench` run measured.
#[derive(Debug)]
pub struct Outcome {
    pub machine: Machine,
    pub command: String,
    pub snapshot_interval_ms: u64,
    pub broker: String,
    pub load_start: String,
    pub load_end: String,
    pub catchup: Option<Case>,
    pub recovery: Option<Recovery>,
    pub scaling: Vec<Case>,
    pub freshness: Option<Freshness>,
    pub query: Option<QueryLatency>,
    pub ingest: Option<IngestBench>,
    pub dlq: Option<Dlq>,
    /// Scenarios that failed, with why.
    pub errors: Vec<String>,
    /// The `--quote` file's text.
    pub quote: Option<String>,
}

impl Outcome {
    pub fn start(options: &Options) -> Self {
        Outcome {
            machine: Machine::now(),
            command: options.command_line.clone().unwrap_or_else(|| {
                format!(
                    "benches::e2e::run (scenario {:?}, tiny: {})",
                    options.scenario, options.tiny
                )
            }),
            snapshot_interval_ms: options.snapshot_interval_ms,
            broker: options.broker_label.clone(),
            load_start: load_average(),
            load_end: String::new(),
            catchup: None,
            recovery: None,
            scaling: Vec::new(),
            freshness: None,
            query: None,
            ingest: None,
            dlq: None,
            errors: Vec::new(),
            quote: options.quote.as_ref().map(|p| {
                std::fs::read_to_string(p).unwrap_or_else(|e| format!("{}: {e}", p.display()))
            }),
        }
    }

    pub fn finish(&mut self) {
        self.load_end = load_average();
    }

    /// The dated section of this run.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "### {} — end-to-end (`pipeline-bench`)\n", m.date);
        let _ = writeln!(
            s,
            "Machine: {}. Load average (1, 5, 15 min) {} at the start, {} at the end.\n",
            m.line(),
            self.load_start,
            self.load_end
        );
        let _ = writeln!(
            s,
            "Command: `{}` (release `processor run`, SNAPSHOT_INTERVAL_MS={}, \
             other settings at their defaults; broker: {}; ClickHouse of the running stack). \
             Rates are records per second from the first record read until caught up \
             (the processor: until its checkpoints cover every record); medians over the repeats.\n",
            self.command, self.snapshot_interval_ms, self.broker
        );
        if let Some(q) = &self.quote {
            let _ = writeln!(
                s,
                "Other benchmarks of the same run:\n\n```text\n{}\n```\n",
                q.trim_end()
            );
        }
        if let Some(c) = &self.catchup {
            catchup_markdown(&mut s, c, m.cores);
        }
        if let Some(r) = &self.recovery {
            recovery_markdown(&mut s, r);
        }
        if !self.scaling.is_empty() {
            scaling_markdown(&mut s, &self.scaling);
        }
        if let Some(q) = &self.query {
            q.markdown(&mut s);
        }
        if let Some(f) = &self.freshness {
            s.push_str(&f.markdown());
        }
        if let Some(i) = &self.ingest {
            i.markdown(&mut s);
        }
        if let Some(d) = &self.dlq {
            d.markdown(&mut s);
        }
        for e in &self.errors {
            let _ = writeln!(s, "**Failed:** {e}\n");
        }
        s
    }
}

fn catchup_markdown(s: &mut String, c: &Case, cores: usize) {
    let _ = writeln!(
        s,
        "#### Catch-up: {} records on {} partitions (target: processor ≥ 90 % of the bare consumer)\n",
        c.records, c.partitions
    );
    let _ = writeln!(
        s,
        "Traffic: `{}` (filled in {:.1} s).\n",
        c.fill_command, c.fill_seconds
    );
    let _ = writeln!(
        s,
        "| repeat | bare consumer | processor | ratio | processor from spawn | spawn → first record | last record → checkpoint | figures | load |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, r) in c.repeats.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {:.1} s | {:.1} s | {} | {} |",
            i + 1,
            rate(r.bare.rate()),
            rate(r.processor.rate()),
            r.ratio(),
            rate(r.processor.wall_rate()),
            r.processor.startup().as_secs_f64(),
            r.processor.tail().as_secs_f64(),
            r.checked.summary(),
            r.load
        );
    }
    let _ = writeln!(
        s,
        "| **median** | **{}** | **{}** | **{:.2}** | {} | {:.1} s | {:.1} s | {} | |\n",
        rate(c.bare_rate()),
        rate(c.processor_rate()),
        c.ratio(),
        rate(c.processor_wall_rate()),
        c.startup(),
        c.tail(),
        if c.all_exact() {
            "all exact"
        } else {
            "NOT EXACT"
        }
    );
    let (bare, processor) = c.cpu_per_record();
    let (bare_busy, processor_busy) = c.busy(cores);
    let _ = writeln!(
        s,
        "CPU per record (µs, medians; reader / broker / ClickHouse, from /proc): \
         bare consumer run {} ({:.0} % of the {cores} cores busy), \
         processor run {} ({:.0} % busy).\n",
        bare.triple(),
        bare_busy * 100.0,
        processor.triple(),
        processor_busy * 100.0
    );
    if let Some(r) = c.repeats.first() {
        let m = &r.metrics;
        let rows: Vec<String> = m
            .rows_written
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect();
        let _ =
            writeln!(
            s,
            "Processor metrics of repeat 1: {} snapshots, {:.1} s writing them; rows written: {}; \
             {} reports and {} journeys compared.\n",
            m.snapshots,
            m.snapshot_seconds,
            rows.join(", "),
            r.checked.reports,
            r.checked.journeys.map_or("(not compared)".to_owned(), |n| n.to_string()),
        );
    }
}

fn recovery_markdown(s: &mut String, r: &Recovery) {
    let _ = writeln!(
        s,
        "#### Recovery: {} journeys in the latest checkpoint, {} records on {} partitions (target: consuming again ≤ 10 s)\n",
        r.journeys, r.records, r.partitions
    );
    let _ = writeln!(
        s,
        "Traffic: `{}`. First catch-up at {} ({} from spawn), {:.0} MiB resident when caught up; figures: {}.\n",
        r.fill_command,
        rate(r.catchup.rate()),
        rate(r.catchup.wall_rate()),
        r.rss_mib,
        r.checked_before.summary()
    );
    let _ = writeln!(
        s,
        "Seconds since spawn unless said otherwise. \"Consuming again\": the new process read \
         a record past its checkpoint (one duplicate per partition is produced before each restart).\n"
    );
    let _ = writeln!(
        s,
        "| restart | stop (SIGTERM → exit) | schema checked | partitions assigned | restore (assigned → all restored, one read for all partitions) | **consuming again** | all partitions | checkpointed | load |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, x) in r.restarts.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} | {} | {} | **{:.2}** | {:.2} | {:.2} | {} |",
            i + 1,
            x.stop,
            opt(x.startup),
            opt(x.assigned),
            opt(x.restore),
            x.consuming,
            x.all_partitions,
            x.caught_up,
            x.load
        );
    }
    let _ = writeln!(
        s,
        "| **median** | {:.2} | {} | {} | {} | **{:.2}** | {:.2} | {:.2} | |\n",
        r.median(|x| x.stop),
        opt(r.median_opt(|x| x.startup)),
        opt(r.median_opt(|x| x.assigned)),
        opt(r.median_opt(|x| x.restore)),
        r.median(|x| x.consuming),
        r.median(|x| x.all_partitions),
        r.median(|x| x.caught_up),
    );
    let (rows, read) = r.restore_read;
    let _ = writeln!(
        s,
        "The restore's store read alone (the processor's one read of every raw event of \
         the partitions, rows converted to events but not applied, run by pipeline-bench \
         afterwards): {rows} rows in {read:.2} s.\n"
    );
    let _ = writeln!(
        s,
        "Figures after the restarts: {}.\n",
        r.checked_after.summary()
    );
}

fn scaling_markdown(s: &mut String, cells: &[Case]) {
    let _ = writeln!(s, "#### Scaling: one instance, by records and partitions\n");
    let _ = writeln!(
        s,
        "| records | partitions | repeats | bare consumer | processor | ratio | processor from spawn | processor run CPU µs/record (processor / broker / ClickHouse) | figures | traffic |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for c in cells {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | `{}` |",
            c.records,
            c.partitions,
            c.repeats.len(),
            rate(c.bare_rate()),
            rate(c.processor_rate()),
            c.ratio(),
            rate(c.processor_wall_rate()),
            c.cpu_per_record().1.triple(),
            if c.all_exact() { "exact" } else { "NOT EXACT" },
            c.fill_command
        );
    }
    s.push('\n');
}

fn rate(per_second: f64) -> String {
    format!("{:.1} k/s", per_second / 1000.0)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.2}"))
}

/// Insert `section` below the marker of the Markdown file at `path`
/// (adding an "End-to-end runs" heading with the marker when missing).
pub fn insert(path: &Path, section: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let section = section.trim_end();
    let updated = match text.find(MARKER) {
        Some(at) => {
            let (head, rest) = text.split_at(at + MARKER.len());
            let rest = rest.trim_start_matches('\n');
            format!("{head}\n\n{section}\n\n{rest}")
        }
        None => format!(
            "{}\n\n## End-to-end runs (generated by `make bench`)\n\n{MARKER}\n\n{section}\n",
            text.trim_end()
        ),
    };
    let updated = format!("{}\n", updated.trim_end());
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, updated).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replace {}", path.display()))?;
    Ok(())
}
