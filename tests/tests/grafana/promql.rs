//! The metric names of a PromQL expression, and whether a `/metrics` page
//! exports them.
//!
//! A small scanner, enough for the expressions of our dashboards: string
//! literals, label matchers (`{...}`) and range or subquery selectors
//! (`[...]`, where `$__rate_interval` lives) are skipped; an identifier
//! followed by `(` is a function or an aggregation; `by`/`without`/`on`/
//! `ignoring`/`group_left`/`group_right` are followed by label lists, not
//! metrics; keywords and numbers (durations too) are not metrics. What is
//! left is a metric name, reported with the functions around it (so that
//! `rate` over a gauge or `histogram_quantile` over something other than a
//! histogram's `_bucket` series is caught). Anything the scanner does not
//! know is an error rather than a guess.

use std::collections::{BTreeMap, BTreeSet};

/// One metric an expression reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    /// The series name as written (`processor_snapshot_seconds_bucket`).
    pub name: String,
    /// The functions it is an argument of, outermost first.
    pub functions: Vec<String>,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Words that are neither functions nor metrics when not followed by `(`.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
];

/// The metrics `expr` reads, in order of appearance.
pub fn metrics(expr: &str) -> Result<Vec<MetricRef>, String> {
    if !expr.is_ascii() {
        return Err(format!("not ASCII: {expr}"));
    }
    let s = expr.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    // One entry per open parenthesis: the function it belongs to, or "".
    let mut stack: Vec<String> = Vec::new();
    while i < s.len() {
        let c = s[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'#' => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => i = skip_string(s, i)?,
            b'{' => {
                let end = skip_group(s, i, b'{', b'}')?;
                if expr[i..end].contains("__name__") {
                    return Err(format!(
                        "a __name__ matcher hides the metric name: {}",
                        &expr[i..end]
                    ));
                }
                i = end;
            }
            b'[' => i = skip_group(s, i, b'[', b']')?,
            b'$' => {
                return Err(format!(
                    "a template variable outside a range selector at {i}: {expr}"
                ))
            }
            b'(' => {
                stack.push(String::new());
                i += 1;
            }
            b')' => {
                if stack.pop().is_none() {
                    return Err(format!("unbalanced ')' at {i}: {expr}"));
                }
                i += 1;
            }
            b',' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~' => {
                i += 1
            }
            b'0'..=b'9' | b'.' => {
                // Numbers and durations (0.95, 5m, 1e3, 0x1f).
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.' || s[i] == b'_')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_' || s[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = skip_spaces(s, i);
                let followed_by_paren = s.get(next) == Some(&b'(');
                if LABEL_LISTS.contains(&word) && followed_by_paren {
                    i = skip_group(s, next, b'(', b')')?;
                } else if followed_by_paren {
                    stack.push(word.to_string());
                    i = next + 1;
                } else if AGGREGATIONS.contains(&word) {
                    // `sum by (le) (...)`: the label list comes first.
                    let (clause, after) = word_at(expr, next);
                    if !matches!(clause, "by" | "without") {
                        return Err(format!("{word} without its argument at {start}: {expr}"));
                    }
                    let open = skip_spaces(s, after);
                    if s.get(open) != Some(&b'(') {
                        return Err(format!("{word} {clause} without labels: {expr}"));
                    }
                    let args = skip_spaces(s, skip_group(s, open, b'(', b')')?);
                    if s.get(args) != Some(&b'(') {
                        return Err(format!(
                            "{word} {clause} (...) without its argument: {expr}"
                        ));
                    }
                    stack.push(word.to_string());
                    i = args + 1;
                } else if KEYWORDS.contains(&word) || LABEL_LISTS.contains(&word) {
                    // An operator word.
                } else {
                    out.push(MetricRef {
                        name: word.to_string(),
                        functions: stack.iter().filter(|f| !f.is_empty()).cloned().collect(),
                    });
                }
            }
            _ => {
                return Err(format!(
                    "unexpected character {:?} at {i}: {expr}",
                    char::from(c)
                ))
            }
        }
    }
    if !stack.is_empty() {
        return Err(format!("unbalanced '(': {expr}"));
    }
    Ok(out)
}

fn skip_spaces(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The identifier at `i` (empty when there is none) and where it ends.
fn word_at(expr: &str, i: usize) -> (&str, usize) {
    let s = expr.as_bytes();
    let mut end = i;
    while end < s.len() && (s[end].is_ascii_alphanumeric() || s[end] == b'_') {
        end += 1;
    }
    (&expr[i..end], end)
}

/// The index after the string literal starting at `i`.
fn skip_string(s: &[u8], i: usize) -> Result<usize, String> {
    let quote = s[i];
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' if quote != b'`' => j += 2,
            c if c == quote => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err(format!(
        "unterminated string at {i}: {}",
        String::from_utf8_lossy(s)
    ))
}

/// The index after the group opened at `i` (nesting and strings inside).
fn skip_group(s: &[u8], i: usize, open: u8, close: u8) -> Result<usize, String> {
    let mut depth = 0;
    let mut j = i;
    while j < s.len() {
        match s[j] {
            b'"' | b'\'' | b'`' => {
                j = skip_string(s, j)?;
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    Err(format!(
        "unclosed {:?} at {i}: {}",
        char::from(open),
        String::from_utf8_lossy(s)
    ))
}

/// What a `/metrics` page exports: every sample name (a histogram's
/// `_bucket`, `_sum` and `_count` series, a counter's `_total` name as
/// written) and the type of every family.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: BTreeSet<String>,
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parse the Prometheus text format.
    pub fn parse(text: &str) -> Self {
        let mut e = Exposition::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    e.types.insert(name.to_string(), kind.to_string());
                }
            } else if !line.is_empty() && !line.starts_with('#') {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                e.samples.insert(line[..end].to_string());
            }
        }
        e
    }

    /// The family of a sample name and its type.
    fn family(&self, sample: &str) -> Option<(&str, &str)> {
        if let Some((name, kind)) = self.types.get_key_value(sample) {
            return Some((name.as_str(), kind.as_str()));
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = sample.strip_suffix(suffix)?;
            let (name, kind) = self.types.get_key_value(base)?;
            matches!(kind.as_str(), "histogram" | "summary")
                .then_some((name.as_str(), kind.as_str()))
        })
    }
}

/// Whether one of `sources` (name, page) exports `m`, and it is used as its
/// type allows: `rate`-like functions over counters (or a histogram's
/// series), `histogram_quantile` over a histogram's `_bucket` series.
pub fn check(m: &MetricRef, sources: &[(&str, &Exposition)]) -> Result<(), String> {
    let Some((source, page)) = sources.iter().find(|(_, e)| e.samples.contains(&m.name)) else {
        let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "{} is not exported by the {}",
            m.name,
            names.join(" or the ")
        ));
    };
    let Some((family, kind)) = page.family(&m.name) else {
        return Err(format!("{}: no # TYPE line on the {source}'s page", m.name));
    };
    let is = |f: &str| m.functions.iter().any(|g| g == f);
    if is("histogram_quantile") && !(kind == "histogram" && m.name.ends_with("_bucket")) {
        return Err(format!(
            "histogram_quantile over {} ({family} is a {kind}): it takes a histogram's _bucket series",
            m.name
        ));
    }
    let counts = matches!(kind, "counter" | "histogram" | "summary");
    let over_counter = ["rate", "irate", "increase", "resets"]
        .into_iter()
        .find(|f| is(f));
    if let (Some(f), false) = (over_counter, counts) {
        return Err(format!(
            "{f}() over {} ({family} is a {kind}): it takes a counter",
            m.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metrics(expr)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    #[test]
    fn names_come_out_of_functions_matchers_and_label_lists() {
        assert_eq!(
            names(
                "histogram_quantile(0.95, sum by (le, route) \
                 (rate(query_api_request_duration_seconds_bucket{status=~\"5..\", route!=\"/x{y}\"}[$__rate_interval])))"
            ),
            ["query_api_request_duration_seconds_bucket"]
        );
        assert_eq!(
            names(
                "sum(rate(a_total[5m])) by (job) / ignoring(x) group_left(y) \
                 sum without (instance) (b_total offset 1h) > bool 0.5 or on() vector(0)"
            ),
            ["a_total", "b_total"]
        );
        assert_eq!(
            names("sum(processor_partition_lag) - count(up)"),
            ["processor_partition_lag", "up"]
        );
        let m = metrics("max(increase(x_total[1h:1m]))").unwrap_or_default();
        assert_eq!(m[0].functions, ["max", "increase"]);
    }

    #[test]
    fn what_the_scanner_does_not_know_is_an_error() {
        for bad in [
            "sum(rate(x_total[5m])",
            "x_total)",
            "{__name__=\"x_total\"}",
            "rate($metric[5m])",
            "sum by (le) x",
            "x_total @ 1",
        ] {
            assert!(metrics(bad).is_err(), "{bad} was accepted");
        }
    }

    const PAGE: &str = "\
# HELP processor_snapshot_seconds Time to write one snapshot.
# TYPE processor_snapshot_seconds histogram
processor_snapshot_seconds_bucket{le=\"0.1\"} 3
processor_snapshot_seconds_bucket{le=\"+Inf\"} 4
processor_snapshot_seconds_sum 0.2
processor_snapshot_seconds_count 4
# HELP processor_records_consumed_total Records read from Kafka.
# TYPE processor_records_consumed_total counter
processor_records_consumed_total{topic=\"t\"} 10
# HELP processor_paused 1 while paused.
# TYPE processor_paused gauge
processor_paused 0
";

    fn checked(expr: &str) -> Result<(), String> {
        let page = Exposition::parse(PAGE);
        let other = Exposition::default();
        let sources = [("processor", &page), ("query API", &other)];
        for m in metrics(expr)? {
            check(&m, &sources)?;
        }
        Ok(())
    }

    #[test]
    fn a_made_up_metric_name_fails_the_check() {
        let err = checked("sum(rate(processor_snapshots_written_total[5m]))")
            .expect_err("a made-up name must fail");
        assert!(
            err.contains("processor_snapshots_written_total is not exported"),
            "{err}"
        );
        // A counter named without its _total, a histogram without a suffix.
        assert!(checked("rate(processor_records_consumed[5m])").is_err());
        assert!(checked("processor_snapshot_seconds").is_err());
    }

    #[test]
    fn exported_names_pass_and_types_are_respected() {
        for good in [
            "histogram_quantile(0.99, sum by (le) (rate(processor_snapshot_seconds_bucket[5m])))",
            "rate(processor_snapshot_seconds_sum[5m]) / rate(processor_snapshot_seconds_count[5m])",
            "sum by (topic) (rate(processor_records_consumed_total[$__rate_interval]))",
            "max(processor_paused)",
        ] {
            assert_eq!(checked(good), Ok(()), "{good}");
        }
        // rate over a gauge; a quantile over a counter or a histogram's _sum.
        assert!(checked("rate(processor_paused[5m])").is_err());
        assert!(
            checked("histogram_quantile(0.9, rate(processor_records_consumed_total[5m]))").is_err()
        );
        assert!(
            checked("histogram_quantile(0.9, rate(processor_snapshot_seconds_sum[5m]))").is_err()
        );
    }
}
