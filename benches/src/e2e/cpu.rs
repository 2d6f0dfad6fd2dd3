//! CPU time of the processes in a measurement (from /proc), to show where
//! the two cores went: the reader itself, the broker, ClickHouse.

use std::time::Duration;

use super::timing::median;

/// CPU seconds (user + system) used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuSeconds {
    /// The reader: the processor child, or this process for the bare consumer.
    pub reader: f64,
    /// Every `tansu` process.
    pub broker: f64,
    /// Every `clickhouse-server` process.
    pub clickhouse: f64,
}

impl CpuSeconds {
    /// Now, with the reader being process `reader` (none: 0).
    pub fn now(reader: Option<u32>) -> Self {
        let mut out = CpuSeconds {
            reader: reader.and_then(seconds_of).unwrap_or(0.0),
            ..CpuSeconds::default()
        };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return out;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Some((comm, secs)) = stat(pid) else {
                continue;
            };
            if comm == "tansu" {
                out.broker += secs;
            } else if comm.starts_with("clickhouse-serv") {
                out.clickhouse += secs;
            }
        }
        out
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuSeconds) -> CpuSeconds {
        CpuSeconds {
            reader: (self.reader - earlier.reader).max(0.0),
            broker: (self.broker - earlier.broker).max(0.0),
            clickhouse: (self.clickhouse - earlier.clickhouse).max(0.0),
        }
    }

    /// CPU microseconds per record of each.
    pub fn per_record(&self, records: u64) -> CpuSeconds {
        let us = |s: f64| s * 1e6 / records.max(1) as f64;
        CpuSeconds {
            reader: us(self.reader),
            broker: us(self.broker),
            clickhouse: us(self.clickhouse),
        }
    }

    /// `reader / broker / clickhouse`, one decimal.
    pub fn triple(&self) -> String {
        format!(
            "{:.1} / {:.1} / {:.1}",
            self.reader, self.broker, self.clickhouse
        )
    }

    /// The element-wise median.
    pub fn median(all: impl IntoIterator<Item = CpuSeconds> + Clone) -> CpuSeconds {
        let m = |f: fn(&CpuSeconds) -> f64| median(all.clone().into_iter().map(|c| f(&c)));
        CpuSeconds {
            reader: m(|c| c.reader),
            broker: m(|c| c.broker),
            clickhouse: m(|c| c.clickhouse),
        }
    }

    /// Each one's share of `cores` cores over `seconds`, and that of
    /// `bench_cpu` (pipeline-bench's own CPU seconds) after them:
    /// `reader / broker / clickhouse % (+ bench %)`, whole percents.
    pub fn shares(&self, seconds: f64, cores: usize, bench_cpu: f64) -> String {
        let share = |cpu: f64| cpu / (seconds * cores.max(1) as f64).max(f64::MIN_POSITIVE) * 100.0;
        format!(
            "{:.0} / {:.0} / {:.0} % (+ {:.0} %)",
            share(self.reader),
            share(self.broker),
            share(self.clickhouse),
            share(bench_cpu)
        )
    }

    /// Share of `cores` cores used over `elapsed`, all three together.
    pub fn busy(&self, elapsed: Duration, cores: usize) -> f64 {
        let total = self.reader + self.broker + self.clickhouse;
        total / (elapsed.as_secs_f64() * cores.max(1) as f64).max(f64::MIN_POSITIVE)
    }
}

/// CPU seconds of one process.
fn seconds_of(pid: u32) -> Option<f64> {
    stat(pid).map(|(_, secs)| secs)
}

/// (command name, user + system CPU seconds) of a process.
fn stat(pid: u32) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after comm.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((comm, ticks / clock_ticks()))
}

/// `getconf CLK_TCK`: 100 on Linux for every architecture we run on.
fn clock_ticks() -> f64 {
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_whole_percents_of_the_cores() {
        let cpu = CpuSeconds {
            reader: 12.0,
            broker: 6.0,
            clickhouse: 30.0,
        };
        // 60 s on 2 cores: 120 core-seconds.
        assert_eq!(cpu.shares(60.0, 2, 18.0), "10 / 5 / 25 % (+ 15 %)");
    }

    #[test]
    fn reads_its_own_cpu_time() {
        let me = CpuSeconds::now(Some(std::process::id()));
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let later = CpuSeconds::now(Some(std::process::id()));
        assert!(later.since(&me).reader >= 0.0);
        assert!(stat(std::process::id()).is_some());
    }
}
