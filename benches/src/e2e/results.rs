//! A run's outcome and its Markdown section for RESULTS.md.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::alert_latency::AlertLatency;
use super::catchup::Case;
use super::dlq::Dlq;
use super::freshness::Freshness;
use super::history;
use super::ingest::IngestBench;
use super::machine::{load_average, Machine};
use super::options::Options;
use super::query::QueryLatency;
use super::recovery::Recovery;
use super::rules::Rules;

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
    pub alert_latency: Option<AlertLatency>,
    pub query: Option<QueryLatency>,
    pub ingest: Option<IngestBench>,
    pub dlq: Option<Dlq>,
    pub rules: Option<Rules>,
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
            alert_latency: None,
            query: None,
            ingest: None,
            dlq: None,
            rules: None,
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
        if let Some(a) = &self.alert_latency {
            s.push_str(&a.markdown());
        }
        if let Some(i) = &self.ingest {
            i.markdown(&mut s);
        }
        if let Some(d) = &self.dlq {
            d.markdown(&mut s);
        }
        if let Some(r) = &self.rules {
            s.push_str(&r.markdown());
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
    let factors: Vec<String> = r.levels.iter().map(|l| format!("{}x", l.factor)).collect();
    let _ = writeln!(
        s,
        "#### Recovery: {} live journeys, {} records on {} partitions; history {} (targets: consuming again ≤ 10 s; restore with 10x history / with 1x ≤ 1.2, and ≤ 5 s at 1 M live journeys)\n",
        r.journeys,
        r.records,
        r.partitions,
        factors.join(", ")
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
        "History (benches/src/e2e/history.rs): completed campaigns of tenant `{}`, {} users each \
         in one job, written straight into the processor's database with `INSERT … SELECT … \
         FROM numbers(N)` while it was stopped: per campaign three lifecycle events, two \
         headers (the latest evicted), two reports; per user one `journeys` row (two steps, \
         one message key) and three raw events. \"Nx\": the history journeys are N times the \
         live ones. Before the first restart of each level pipeline-bench waits until \
         ClickHouse runs no merge of the database. The processor runs with \
         EVICT_COMPLETED_AFTER_SECONDS=0 in this scenario, so the live state stays the same \
         at every restart (with eviction on, a restored campaign counts as idle and the first \
         snapshot after a restart evicts every completed campaign older than a day).\n",
        history::TENANT,
        history::USERS_PER_CAMPAIGN
    );
    if let Some((first, last, ratio)) = r.history_ratio() {
        let last_restore = last.restore().unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "**Restore (median, assigned → last partition restored): {:.2} s with {}x history, \
             {:.2} s with {}x; ratio {:.2} (target ≤ 1.2: {}); {:.2} s at {} live journeys \
             (target ≤ 5 s at 1 M: {}).** Consuming again (median): {:.2} s and {:.2} s.\n",
            first.restore().unwrap_or(f64::NAN),
            first.factor,
            last_restore,
            last.factor,
            ratio,
            met(ratio <= 1.2),
            last_restore,
            r.journeys,
            met(last_restore <= 5.0),
            first.median(|x| x.consuming),
            last.median(|x| x.consuming),
        );
    }
    let _ = writeln!(
        s,
        "| history | history journeys | events_raw rows (parts) | journeys rows (parts) | campaign_state rows | injected | merges settled after | restore (median) | consuming again (median) | figures after |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for l in &r.levels {
        let _ = writeln!(
            s,
            "| {}x | {} | {} ({}) | {} ({}) | {} | {} | {:.1} s{} | **{}** | **{:.2}** | {} |",
            l.factor,
            l.history.journeys(),
            l.rows.events_raw,
            l.rows.events_raw_parts,
            l.rows.journeys,
            l.rows.journeys_parts,
            l.rows.campaign_state,
            l.injected.map_or("–".to_owned(), |i| format!(
                "{} campaigns, {} raw events in {:.1} s",
                i.campaigns, i.raw_events, i.seconds
            )),
            l.settle.0,
            if l.settle.1 { "" } else { " (not settled)" },
            opt(l.restore()),
            l.median(|x| x.consuming),
            l.checked.summary(),
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Seconds since spawn unless said otherwise. \"Consuming again\": the new process read \
         a record past its checkpoint (one duplicate per partition is produced before each restart).\n"
    );
    let _ = writeln!(
        s,
        "| history | restart | stop (SIGTERM → exit) | schema checked | partitions assigned | restore (assigned → all restored) | campaigns restored | first fetch | **consuming again** | all partitions | checkpointed | load |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for l in &r.levels {
        for (i, x) in l.restarts.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {}x | {} | {:.2} | {} | {} | {} | {} | {} | **{:.2}** | {:.2} | {:.2} | {} |",
                l.factor,
                i + 1,
                x.stop,
                opt(x.startup),
                opt(x.assigned),
                opt(x.restore),
                x.campaigns.map_or("–".to_owned(), |n| n.to_string()),
                opt(x.first_fetch),
                x.consuming,
                x.all_partitions,
                x.caught_up,
                x.load
            );
        }
        let _ = writeln!(
            s,
            "| {}x | **median** | {:.2} | {} | {} | {} | | {} | **{:.2}** | {:.2} | {:.2} | |",
            l.factor,
            l.median(|x| x.stop),
            opt(l.median_opt(|x| x.startup)),
            opt(l.median_opt(|x| x.assigned)),
            opt(l.restore()),
            opt(l.median_opt(|x| x.first_fetch)),
            l.median(|x| x.consuming),
            l.median(|x| x.all_partitions),
            l.median(|x| x.caught_up),
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "The restore's store calls alone, run by pipeline-bench after each level's restarts \
         (`checkpoint` and `version_floor` per partition, `partition_rows` once for all \
         partitions, `tail` per partition; rows converted, nothing applied), and the server's \
         time for their queries (`system.query_log`):\n"
    );
    let _ = writeln!(
        s,
        "| history | checkpoints and floors | partition_rows (live campaigns / users / evicted) | tails (events) | slowest queries (server ms, rows read) |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    for l in &r.levels {
        let d = &l.read;
        let mut queries: Vec<_> = d.queries.iter().collect();
        queries.sort_by_key(|q| std::cmp::Reverse(q.query_duration_ms));
        let slowest: Vec<String> = queries
            .iter()
            .take(3)
            .map(|q| {
                format!(
                    "{} {} ms, {} rows",
                    phase(&q.query_id),
                    q.query_duration_ms,
                    q.read_rows
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "| {}x | {:.2} s | {:.2} s ({} / {} / {}) | {:.2} s ({}) | {} |",
            l.factor,
            d.checkpoints_seconds,
            d.rows_seconds,
            d.live_campaigns,
            d.users,
            d.evicted,
            d.tail_seconds,
            d.tail_events,
            slowest.join("; ")
        );
    }
    s.push('\n');
    if let Some(last) = r.levels.last() {
        let mut queries: Vec<_> = last
            .read
            .queries
            .iter()
            .filter(|q| phase(&q.query_id).starts_with("partition-rows"))
            .collect();
        queries.sort_by_key(|q| std::cmp::Reverse(q.query_duration_ms));
        if !queries.is_empty() {
            let _ = writeln!(
                s,
                "The queries of `partition_rows` with {}x history (server time, rows and bytes read, result rows, memory):\n",
                last.factor
            );
            let _ = writeln!(
                s,
                "| ms | rows read | MiB read | result rows | memory MiB | query |"
            );
            let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
            for q in queries {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {} | {:.1} | `{}` |",
                    q.query_duration_ms,
                    q.read_rows,
                    q.read_bytes as f64 / 1048576.0,
                    q.result_rows,
                    q.memory_usage as f64 / 1048576.0,
                    one_line(&q.query, 240)
                );
            }
            s.push('\n');
        }
    }
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "**not met**"
    }
}

/// The phase of a restore-read query id (`restore-read-<pid>-<nanos>-<phase>`).
fn phase(query_id: &str) -> &str {
    query_id.splitn(5, '-').nth(4).unwrap_or(query_id)
}

/// `text` on one line, at most `max` characters, without backticks.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('`', "'")
        .replace('|', "\\|");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_read_phases_and_query_lines() {
        assert_eq!(
            phase("restore-read-123-456789-partition-rows"),
            "partition-rows"
        );
        assert_eq!(phase("restore-read-123-456789-tail-7"), "tail-7");
        assert_eq!(phase("other"), "other");
        assert_eq!(one_line("SELECT a,\n  b | c", 12), "SELECT a, b …");
        assert_eq!(one_line("SELECT `x`", 40), "SELECT 'x'");
    }
}
