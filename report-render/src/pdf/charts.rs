//! Charts drawn as PDF vector graphics from [`crate::chart`]'s geometry.

use super::canvas::{rgb, Align, Canvas, Rgb, GRID, INK, MUTED};
use super::fonts::Font;
use crate::chart::{self, Bars, Lines};
use crate::{Chart, Series};

/// Bars drawn at most (the rest are summarised in a note).
const MAX_BARS: usize = 30;
const TITLE: f32 = 18.0;
const BAR_PITCH: f32 = 15.0;
const BAR_THICK: f32 = 10.0;
const BAR_LABEL: f32 = 180.0;
const BAR_VALUE: f32 = 80.0;
const AXIS: f32 = 20.0;
const PLOT_HEIGHT: f32 = 170.0;
const PLOT_LEFT: f32 = 48.0;
const LEGEND_ROW: f32 = 14.0;
const LABEL_SIZE: f32 = 7.5;
const AXIS_COLOR: Rgb = (0.61, 0.64, 0.69);

/// The vertical space `chart` takes at `width` points wide.
pub(crate) fn height(chart: &Chart, width: f32) -> f32 {
    match chart {
        Chart::Bars { labels, values, .. } => {
            let n = labels.len().min(values.len()).min(MAX_BARS) as f32;
            TITLE + n * BAR_PITCH + AXIS + 12.0
        }
        Chart::Line { series, .. } => {
            TITLE + PLOT_HEIGHT + AXIS + legend_rows(series, width) * LEGEND_ROW + 8.0
        }
    }
}

/// Draws `chart` with its top-left corner at `(x, top)`.
pub(crate) fn draw(canvas: &mut Canvas, chart: &Chart, x: f32, top: f32, width: f32) {
    canvas.text(
        Font::Bold,
        11.0,
        (x, top - 11.0),
        Align::Left,
        width,
        chart.title(),
        INK,
    );
    let top = top - TITLE;
    match chart {
        Chart::Bars {
            labels,
            values,
            unit,
            ..
        } => {
            let n = labels.len().min(values.len());
            let shown = n.min(MAX_BARS);
            let geo = chart::bars(&labels[..shown], &values[..shown], unit);
            draw_bars(canvas, &geo, x, top, width);
            if n > shown {
                let note = format!("{} more not shown", n - shown);
                let y = top - shown as f32 * BAR_PITCH - AXIS - 8.0;
                canvas.text(
                    Font::Regular,
                    LABEL_SIZE,
                    (x, y),
                    Align::Left,
                    width,
                    &note,
                    MUTED,
                );
            }
        }
        Chart::Line { labels, series, .. } => {
            let geo = chart::lines(
                labels,
                series,
                ((width - PLOT_LEFT) / 70.0).max(1.0) as usize,
            );
            draw_lines(canvas, labels, series, &geo, (x, top), width);
        }
    }
}

fn draw_bars(canvas: &mut Canvas, geo: &Bars, x: f32, top: f32, width: f32) {
    let x0 = x + BAR_LABEL;
    let span = width - BAR_LABEL - BAR_VALUE;
    let bottom = top - geo.bars.len() as f32 * BAR_PITCH;
    for tick in geo.scale.ticks() {
        let tx = x0 + geo.scale.fraction(tick) as f32 * span;
        canvas.line((tx, top), (tx, bottom), 0.5, GRID);
        let label = geo.scale.label(tick);
        canvas.text(
            Font::Regular,
            LABEL_SIZE,
            (tx, bottom - 10.0),
            Align::Center,
            60.0,
            &label,
            MUTED,
        );
    }
    let color = rgb(chart::color(0));
    for (i, bar) in geo.bars.iter().enumerate() {
        let y = top - (i as f32 + 1.0) * BAR_PITCH + (BAR_PITCH - BAR_THICK) / 2.0;
        let bx = x0 + bar.from as f32 * span;
        let bw = (bar.to - bar.from) as f32 * span;
        let baseline = y + 2.5;
        canvas.text(
            Font::Regular,
            8.0,
            (x0 - 6.0, baseline),
            Align::Right,
            BAR_LABEL - 10.0,
            &bar.label,
            INK,
        );
        canvas.fill_rect(bx, y, bw, BAR_THICK, color);
        let vx = x0 + bar.to as f32 * span + 4.0;
        canvas.text(
            Font::Regular,
            8.0,
            (vx, baseline),
            Align::Left,
            BAR_VALUE - 4.0,
            &bar.value,
            INK,
        );
    }
    let base = x0 + geo.scale.fraction(0.0) as f32 * span;
    canvas.line((base, top), (base, bottom), 0.8, AXIS_COLOR);
}

fn draw_lines(
    canvas: &mut Canvas,
    labels: &[String],
    series: &[Series],
    geo: &Lines,
    (x, top): (f32, f32),
    width: f32,
) {
    let (left, right) = (x + PLOT_LEFT, x + width - 10.0);
    let bottom = top - PLOT_HEIGHT;
    let map = |(fx, fy): (f64, f64)| {
        (
            left + fx as f32 * (right - left),
            bottom + fy as f32 * PLOT_HEIGHT,
        )
    };
    for tick in geo.y.ticks() {
        let (_, ty) = map((0.0, geo.y.fraction(tick)));
        canvas.line((left, ty), (right, ty), 0.5, GRID);
        let label = geo.y.label(tick);
        canvas.text(
            Font::Regular,
            LABEL_SIZE,
            (left - 4.0, ty - 2.5),
            Align::Right,
            PLOT_LEFT - 6.0,
            &label,
            MUTED,
        );
    }
    canvas.line((left, bottom), (right, bottom), 0.8, AXIS_COLOR);
    let slot = (right - left) / geo.x.len().max(1) as f32 * geo.label_every as f32;
    for (i, (&fx, label)) in geo.x.iter().zip(labels).enumerate() {
        if i % geo.label_every == 0 {
            let (tx, _) = map((fx, 0.0));
            canvas.line((tx, bottom), (tx, bottom - 3.0), 0.8, AXIS_COLOR);
            canvas.text(
                Font::Regular,
                LABEL_SIZE,
                (tx, bottom - 12.0),
                Align::Center,
                slot.max(20.0),
                label,
                MUTED,
            );
        }
    }
    for (i, runs) in geo.runs.iter().enumerate() {
        let color = rgb(chart::color(i));
        for run in runs {
            let points: Vec<(f32, f32)> = run.iter().map(|&p| map(p)).collect();
            canvas.polyline(&points, 1.6, color);
        }
    }
    draw_legend(
        canvas,
        series,
        (left, bottom - AXIS - 6.0),
        width - PLOT_LEFT,
    );
}

/// Legend entries: (x offset, row) per series, wrapping at `width`.
fn legend_layout(series: &[Series], width: f32) -> Vec<(f32, f32)> {
    let mut placed = Vec::new();
    let (mut x, mut row) = (0.0, 0.0);
    for s in series {
        let w = 20.0
            + Font::Regular
                .width(&super::fonts::encode(&s.name), 8.0)
                .min(200.0)
            + 16.0;
        if x + w > width && x > 0.0 {
            x = 0.0;
            row += 1.0;
        }
        placed.push((x, row));
        x += w;
    }
    placed
}

fn legend_rows(series: &[Series], width: f32) -> f32 {
    legend_layout(series, width - PLOT_LEFT)
        .last()
        .map_or(0.0, |&(_, row)| row + 1.0)
}

fn draw_legend(canvas: &mut Canvas, series: &[Series], (x, y): (f32, f32), width: f32) {
    for (i, (s, (dx, row))) in series.iter().zip(legend_layout(series, width)).enumerate() {
        let (lx, ly) = (x + dx, y - row * LEGEND_ROW);
        canvas.fill_rect(lx, ly + 1.0, 14.0, 3.0, rgb(chart::color(i)));
        canvas.text(
            Font::Regular,
            8.0,
            (lx + 18.0, ly),
            Align::Left,
            200.0,
            &s.name,
            INK,
        );
    }
}
