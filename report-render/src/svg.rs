//! Charts as inline SVG for the HTML page, drawn from [`crate::chart`]'s geometry.

use std::fmt::Write as _;

use crate::chart::{self, Bars, Lines, Point};
use crate::html::escape;
use crate::{Chart, Series};

/// Drawing width (user units; the SVG scales to its container).
const WIDTH: f64 = 760.0;
/// Bar chart: label column width, value column width, row pitch and bar thickness.
const BAR_LABEL: f64 = 200.0;
const BAR_VALUE: f64 = 90.0;
const BAR_PITCH: f64 = 28.0;
const BAR_THICK: f64 = 18.0;
/// Line chart: plot height and margins.
const LINE_HEIGHT: f64 = 300.0;
const LINE_LEFT: f64 = 64.0;
const LINE_RIGHT: f64 = 24.0;
const LINE_TOP: f64 = 16.0;
const LINE_BOTTOM: f64 = 40.0;
/// Longest label drawn in full (longer ones are cut, the full text is a tooltip).
const MAX_LABEL: usize = 30;

/// The `<svg>` element of `chart`.
pub(crate) fn render(chart: &Chart) -> String {
    match chart {
        Chart::Bars {
            title,
            labels,
            values,
            unit,
        } => bars_svg(title, &chart::bars(labels, values, unit)),
        Chart::Line {
            title,
            labels,
            series,
        } => lines_svg(title, labels, series, &chart::lines(labels, series, 12)),
    }
}

fn open_svg(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="12">"#,
        escape(title)
    );
}

fn rgb((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Cuts a label to [`MAX_LABEL`] characters with an ellipsis.
fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_owned()
    } else {
        let head: String = label.chars().take(MAX_LABEL - 1).collect();
        format!("{head}…")
    }
}

fn bars_svg(title: &str, bars: &Bars) -> String {
    let (x0, x1) = (BAR_LABEL, WIDTH - BAR_VALUE);
    let span = x1 - x0;
    let rows = bars.bars.len() as f64;
    let axis_y = 8.0 + rows * BAR_PITCH;
    let mut out = String::new();
    open_svg(&mut out, title, axis_y + 24.0);
    for tick in bars.scale.ticks() {
        let x = x0 + bars.scale.fraction(tick) * span;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="4" x2="{x:.1}" y2="{axis_y:.1}" stroke="#e3e7ee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#6b7280">{}</text>"##,
            axis_y + 16.0,
            escape(&bars.scale.label(tick))
        );
    }
    let color = rgb(chart::color(0));
    for (i, bar) in bars.bars.iter().enumerate() {
        let y = 8.0 + i as f64 * BAR_PITCH + (BAR_PITCH - BAR_THICK) / 2.0;
        let mid = y + BAR_THICK / 2.0 + 4.0;
        let (bx, bw) = (x0 + bar.from * span, (bar.to - bar.from) * span);
        let _ = write!(
            out,
            r##"<g><title>{label}: {value}</title><text x="{lx:.1}" y="{mid:.1}" text-anchor="end" fill="#1f2937">{short}</text><rect x="{bx:.1}" y="{y:.1}" width="{bw:.1}" height="{BAR_THICK}" rx="2" fill="{color}"/><text x="{vx:.1}" y="{mid:.1}" fill="#374151">{value}</text></g>"##,
            label = escape(&bar.label),
            value = escape(&bar.value),
            short = escape(&short(&bar.label)),
            lx = x0 - 8.0,
            vx = x0 + bar.to * span + 6.0,
        );
    }
    let base = x0 + bars.scale.fraction(0.0) * span;
    let _ = write!(
        out,
        r##"<line x1="{base:.1}" y1="4" x2="{base:.1}" y2="{axis_y:.1}" stroke="#9ca3af"/></svg>"##
    );
    out
}

/// Maps a geometry point to SVG coordinates in the line plot.
fn to_svg((fx, fy): Point) -> (f64, f64) {
    let w = WIDTH - LINE_LEFT - LINE_RIGHT;
    let h = LINE_HEIGHT - LINE_TOP - LINE_BOTTOM;
    (LINE_LEFT + fx * w, LINE_TOP + (1.0 - fy) * h)
}

fn lines_svg(title: &str, labels: &[String], series: &[Series], geo: &Lines) -> String {
    let legend_rows = legend_layout(series)
        .last()
        .map_or(0.0, |&(_, row)| row + 1.0);
    let mut out = String::new();
    open_svg(&mut out, title, LINE_HEIGHT + legend_rows * 20.0 + 4.0);
    y_axis(&mut out, geo);
    x_axis(&mut out, labels, geo);
    for (i, runs) in geo.runs.iter().enumerate() {
        let color = rgb(chart::color(i));
        let name = series.get(i).map_or("", |s| s.name.as_str());
        let _ = write!(out, r#"<g><title>{}</title>"#, escape(name));
        for run in runs {
            let points: Vec<String> = run
                .iter()
                .map(|&p| to_svg(p))
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = write!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round"/>"#,
                points.join(" ")
            );
            if geo.x.len() <= 40 {
                for (x, y) in run.iter().map(|&p| to_svg(p)) {
                    let _ = write!(
                        out,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#
                    );
                }
            }
        }
        out.push_str("</g>");
    }
    legend(&mut out, series);
    out.push_str("</svg>");
    out
}

fn y_axis(out: &mut String, geo: &Lines) {
    for tick in geo.y.ticks() {
        let (x0, y) = to_svg((0.0, geo.y.fraction(tick)));
        let (x1, _) = to_svg((1.0, 0.0));
        let _ = write!(
            out,
            r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#e3e7ee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#6b7280">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            escape(&geo.y.label(tick))
        );
    }
}

fn x_axis(out: &mut String, labels: &[String], geo: &Lines) {
    let (x0, base) = to_svg((0.0, 0.0));
    let (x1, _) = to_svg((1.0, 0.0));
    let _ = write!(
        out,
        r##"<line x1="{x0:.1}" y1="{base:.1}" x2="{x1:.1}" y2="{base:.1}" stroke="#9ca3af"/>"##
    );
    for (i, (&fx, label)) in geo.x.iter().zip(labels).enumerate() {
        if i % geo.label_every != 0 {
            continue;
        }
        let (x, _) = to_svg((fx, 0.0));
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{base:.1}" x2="{x:.1}" y2="{:.1}" stroke="#9ca3af"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#6b7280">{}</text>"##,
            base + 4.0,
            base + 18.0,
            escape(&short(label))
        );
    }
}

/// Legend entries: (x offset, row) per series.
fn legend_layout(series: &[Series]) -> Vec<(f64, f64)> {
    let mut placed = Vec::new();
    let (mut x, mut row) = (LINE_LEFT, 0.0);
    for s in series {
        let width = 24.0 + 7.0 * short(&s.name).chars().count() as f64 + 16.0;
        if x + width > WIDTH && x > LINE_LEFT {
            x = LINE_LEFT;
            row += 1.0;
        }
        placed.push((x, row));
        x += width;
    }
    placed
}

fn legend(out: &mut String, series: &[Series]) {
    for (i, (s, (x, row))) in series.iter().zip(legend_layout(series)).enumerate() {
        let y = LINE_HEIGHT + row * 20.0;
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="14" height="4" fill="{}"/><text x="{:.1}" y="{y:.1}" fill="#1f2937">{}</text>"##,
            y - 6.0,
            rgb(chart::color(i)),
            x + 20.0,
            escape(&short(&s.name))
        );
    }
}
