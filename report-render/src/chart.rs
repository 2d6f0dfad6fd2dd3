//! Chart geometry shared by the SVG (HTML) and PDF emitters: value scales with "nice"
//! ticks, bar extents and line points, all as fractions (0..1) of the plot area so each
//! emitter maps them to its own coordinates (SVG's y grows down, PDF's up).

use crate::text::human_number;
use crate::Series;

/// Series colours (RGB), used in order.
pub(crate) const PALETTE: [(u8, u8, u8); 6] = [
    (0x2F, 0x6D, 0xB5),
    (0xE0, 0x7B, 0x39),
    (0x3A, 0x9D, 0x5D),
    (0xC8, 0x3E, 0x4D),
    (0x7E, 0x57, 0xC2),
    (0x8A, 0x8A, 0x8A),
];

/// The colour of series `index`.
pub(crate) fn color(index: usize) -> (u8, u8, u8) {
    PALETTE[index % PALETTE.len()]
}

/// A linear value axis from `min` to `max` with ticks every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) step: f64,
}

impl Scale {
    /// A scale covering `lo..=hi` with round bounds and at most about `ticks` steps.
    /// Non-finite or empty input gives `0..1`.
    pub(crate) fn nice(lo: f64, hi: f64, ticks: usize) -> Scale {
        let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
            (true, true) if lo <= hi => (lo, hi),
            _ => (0.0, 1.0),
        };
        let (lo, hi) = if lo == hi { widen(lo) } else { (lo, hi) };
        let step = nice_step((hi - lo) / ticks.max(1) as f64);
        let min = (lo / step).floor() * step;
        let max = (hi / step).ceil() * step;
        Scale { min, max, step }
    }

    /// Where `value` lies on the scale, 0 at `min` and 1 at `max` (clamped).
    pub(crate) fn fraction(&self, value: f64) -> f64 {
        if !value.is_finite() || self.max <= self.min {
            return 0.0;
        }
        ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0)
    }

    /// The tick values from `min` to `max`.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        let count = ((self.max - self.min) / self.step)
            .round()
            .clamp(0.0, 100.0) as usize;
        (0..=count)
            .map(|i| self.min + self.step * i as f64)
            .collect()
    }

    /// A tick label: thousands as `k`, millions as `M`, decimals only when the step
    /// needs them.
    pub(crate) fn label(&self, value: f64) -> String {
        if value.abs() < self.step * 1e-9 {
            return "0".to_owned();
        }
        let (scaled, suffix, step) = if self.max.abs().max(self.min.abs()) >= 1e6 {
            (value / 1e6, "M", self.step / 1e6)
        } else if self.max.abs().max(self.min.abs()) >= 1e4 {
            (value / 1e3, "k", self.step / 1e3)
        } else {
            (value, "", self.step)
        };
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10().floor()).clamp(0.0, 6.0) as usize
        };
        format!("{scaled:.decimals$}{suffix}")
    }
}

/// A range around a single value.
fn widen(v: f64) -> (f64, f64) {
    if v == 0.0 {
        (0.0, 1.0)
    } else if v > 0.0 {
        (0.0, v)
    } else {
        (v, 0.0)
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let factor = if normalized <= 1.0 {
        1.0
    } else if normalized <= 2.0 {
        2.0
    } else if normalized <= 5.0 {
        5.0
    } else {
        10.0
    };
    factor * magnitude
}

/// One horizontal bar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    pub(crate) label: String,
    /// The value as text (empty for a missing value).
    pub(crate) value: String,
    /// Start and end along the value axis, as fractions (`from <= to`).
    pub(crate) from: f64,
    pub(crate) to: f64,
}

/// Horizontal bars on one value scale that includes zero.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bars {
    pub(crate) scale: Scale,
    pub(crate) bars: Vec<Bar>,
}

/// Lays out one bar per label (extra labels or values are dropped; `NaN` is no bar).
pub(crate) fn bars(labels: &[String], values: &[f64], unit: &str) -> Bars {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(0.0, f64::min);
    let hi = finite.fold(0.0, f64::max);
    let scale = Scale::nice(lo, hi, 5);
    let base = scale.fraction(0.0);
    let bars = labels
        .iter()
        .zip(values)
        .map(|(label, &v)| {
            let at = if v.is_finite() {
                scale.fraction(v)
            } else {
                base
            };
            let value = if v.is_finite() {
                with_unit(human_number(v), unit)
            } else {
                String::new()
            };
            Bar {
                label: label.clone(),
                value,
                from: base.min(at),
                to: base.max(at),
            }
        })
        .collect();
    Bars { scale, bars }
}

fn with_unit(value: String, unit: &str) -> String {
    match unit {
        "" => value,
        "%" => format!("{value}%"),
        _ => format!("{value} {unit}"),
    }
}

/// A point of a line, as fractions of the plot area (x right, y up).
pub(crate) type Point = (f64, f64);

/// Line chart geometry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lines {
    pub(crate) y: Scale,
    /// The x position of each label.
    pub(crate) x: Vec<f64>,
    /// Show every `label_every`-th x label (so they do not overlap).
    pub(crate) label_every: usize,
    /// Per series, the unbroken runs of points (a missing value breaks the line).
    pub(crate) runs: Vec<Vec<Vec<Point>>>,
}

/// Lays out `series` over `labels`, showing at most about `max_labels` x labels.
pub(crate) fn lines(labels: &[String], series: &[Series], max_labels: usize) -> Lines {
    let n = labels.len();
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().take(n))
            .copied()
            .filter(|v| v.is_finite())
    };
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let lo = if lo >= 0.0 { 0.0 } else { lo };
    let y = Scale::nice(lo, hi, 5);
    let x: Vec<f64> = (0..n)
        .map(|i| {
            if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.5
            }
        })
        .collect();
    let runs = series.iter().map(|s| runs_of(&x, &s.values, &y)).collect();
    Lines {
        y,
        label_every: n.div_ceil(max_labels.max(1)).max(1),
        x,
        runs,
    }
}

/// Splits a series into runs of consecutive finite values.
fn runs_of(x: &[f64], values: &[f64], y: &Scale) -> Vec<Vec<Point>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (&px, &v) in x.iter().zip(values) {
        if v.is_finite() {
            run.push((px, y.fraction(v)));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_scales() {
        let s = Scale::nice(0.0, 87.0, 5);
        assert_eq!((s.min, s.max, s.step), (0.0, 100.0, 20.0));
        assert_eq!(s.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(s.label(40.0), "40");
        let s = Scale::nice(0.0, 0.42, 4);
        assert_eq!(s.label(0.2), "0.2");
        let s = Scale::nice(0.0, 1_234_567.0, 5);
        assert_eq!(s.label(500_000.0), "0.5M");
        assert_eq!(
            Scale::nice(f64::NAN, 1.0, 5),
            Scale {
                min: 0.0,
                max: 1.0,
                step: 0.2
            }
        );
        assert_eq!(Scale::nice(3.0, 3.0, 5).max, 3.0);
    }

    #[test]
    fn bars_with_negative_values_start_at_zero() {
        let b = bars(
            &["a".into(), "b".into(), "c".into()],
            &[50.0, -50.0, f64::NAN],
            "%",
        );
        assert_eq!(b.bars[0].value, "50%");
        assert_eq!((b.scale.min, b.scale.max), (-60.0, 60.0));
        let (zero, fifty) = (b.scale.fraction(0.0), b.scale.fraction(50.0));
        assert!((zero - 0.5).abs() < 1e-9);
        assert_eq!((b.bars[0].from, b.bars[0].to), (zero, fifty));
        assert_eq!(
            (b.bars[1].from, b.bars[1].to),
            (b.scale.fraction(-50.0), zero)
        );
        assert_eq!(b.bars[2].from, b.bars[2].to);
    }

    #[test]
    fn lines_break_at_gaps() {
        let labels: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let s = Series {
            name: "s".into(),
            values: vec![1.0, 2.0, f64::NAN, 4.0, 5.0],
        };
        let l = lines(&labels, &[s], 2);
        assert_eq!(l.runs[0].len(), 2);
        assert_eq!(l.x[4], 1.0);
        assert_eq!(l.label_every, 3);
        assert_eq!(l.y.min, 0.0);
    }
}
