// Charts drawn as SVG, at the pixel width of their container (redrawn when
// it changes), so text stays readable from a phone to a wide screen.
// Colours come from the stylesheet (classes), nothing inline.

import { s, h, replace } from "./dom.js";
import { int, compact, pct } from "./format.js";

/** Round tick values from 0 to at least `max`. */
export function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
  const out = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

/** Call `draw(width)` now and whenever the container's width changes,
 * until `signal` aborts. */
function responsive(container, signal, draw) {
  let width = 0;
  let frame = 0;
  const redraw = () => {
    const w = Math.floor(container.clientWidth);
    if (w > 0 && w !== width) {
      width = w;
      draw(w);
    }
  };
  redraw();
  if (width === 0) draw(640);
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(redraw);
  });
  ro.observe(container);
  if (signal) signal.addEventListener("abort", () => ro.disconnect());
  return { redraw: () => { width = 0; redraw(); } };
}

/** Approximate text width in px at the charts' 12px font. */
const textWidth = (t) => String(t).length * 6.6;

/**
 * A column chart of a series over time.
 * items: [{key, label, long, value}]; opts.format for values (tooltips,
 * labels), opts.percent for a 0..100 axis.
 */
export function columnChart(container, data, options = {}) {
  container.classList.add("chart");
  let items = data;
  let opts = options;
  const draw = (width) => {
    const { format = int, percent = false, height = 260, name = "" } = opts;
    const m = { top: 16, right: 12, bottom: 34, left: 0 };
    const max = percent ? 100 : Math.max(0, ...items.map((d) => d.value));
    const yt = percent ? [0, 25, 50, 75, 100] : ticks(max);
    const top = yt[yt.length - 1] || 1;
    const tickText = (v) => (percent ? `${v}%` : compact(v));
    m.left = Math.max(...yt.map((v) => textWidth(tickText(v)))) + 14;
    const w = width - m.left - m.right;
    const ih = height - m.top - m.bottom;
    const band = items.length ? w / items.length : w;
    const barW = Math.max(1, Math.min(56, band * 0.72));
    const y = (v) => m.top + ih - (v / top) * ih;
    const labelW = Math.max(...items.map((d) => textWidth(d.label)), 10) + 10;
    const every = Math.max(1, Math.ceil(labelW / band));

    const svg = s("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": name ? `${name} per period` : "chart", class: "chart-svg",
    });
    const grid = s("g", { class: "grid" });
    for (const v of yt) {
      grid.append(
        s("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "gridline" }),
        s("text", { x: m.left - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, tickText(v)),
      );
    }
    svg.append(grid);
    const bars = s("g", { class: "bars" });
    items.forEach((d, i) => {
      const cx = m.left + band * i + band / 2;
      const v = Math.max(0, d.value);
      const bh = Math.max(v > 0 ? 1 : 0, y(0) - y(v));
      const g = s("g", { class: d.filled ? "col filled" : "col", data: { period: d.key, value: d.value, filled: d.filled ? "true" : null } },
        s("title", {}, `${d.long || d.label}: ${d.filled ? "no activity" : format(d.value)}`),
        s("rect", { x: m.left + band * i, y: m.top, width: band, height: ih, class: "hit" }),
        s("rect", { x: cx - barW / 2, y: y(0) - bh, width: barW, height: bh, rx: Math.min(3, barW / 4), class: "bar" }),
      );
      if (items.length <= 16 && barW >= 26 && d.value > 0) {
        g.append(s("text", { x: cx, y: y(0) - bh - 5, class: "value", "text-anchor": "middle" }, percent ? pct(d.value) : compact(d.value)));
      }
      if (i % every === 0) {
        g.append(s("text", { x: cx, y: height - m.bottom + 18, class: "tick xlabel", "text-anchor": "middle" }, d.label));
      }
      bars.append(g);
    });
    svg.append(bars);
    replace(container, svg);
  };
  const r = responsive(container, options.signal, draw);
  return { update(d, o = opts) { items = d; opts = o; r.redraw(); } };
}

/**
 * The funnel: one horizontal bar per step of the script's flow, its users
 * against the first step's, with the conversion from the previous step.
 * funnel: [{node_id, users, conversion_from_previous, drop_off}]
 */
export function funnelChart(container, data, { signal } = {}) {
  container.classList.add("chart", "funnel");
  let funnel = data;
  const draw = (width) => {
    const narrow = width < 520;
    const row = narrow ? 50 : 38;
    const m = { top: 8, right: narrow ? 8 : 150, bottom: 30, left: narrow ? 8 : Math.min(180, Math.max(80, ...funnel.map((f) => textWidth(f.node_id) + 16))) };
    const height = m.top + m.bottom + row * funnel.length;
    const w = Math.max(40, width - m.left - m.right);
    const max = Math.max(1, ...funnel.map((f) => f.users));
    const xt = ticks(max);
    const top = xt[xt.length - 1] || 1;
    const x = (v) => m.left + (v / top) * w;
    const svg = s("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "Funnel: users reaching each step of the script", class: "chart-svg",
    });
    const grid = s("g", { class: "grid" });
    for (const v of xt) {
      grid.append(
        s("line", { x1: x(v), x2: x(v), y1: m.top, y2: height - m.bottom, class: v === 0 ? "axis" : "gridline" }),
        s("text", { x: x(v), y: height - m.bottom + 18, class: "tick", "text-anchor": "middle" }, compact(v)),
      );
    }
    svg.append(grid);
    const bars = s("g", { class: "bars" });
    funnel.forEach((f, i) => {
      const y0 = m.top + row * i;
      const barH = narrow ? 16 : 22;
      const barY = narrow ? y0 + 22 : y0 + (row - barH) / 2;
      const share = funnel[0].users > 0 ? (f.users / funnel[0].users) * 100 : 0;
      const prev = i === 0 ? null : funnel[i - 1].users;
      const ofPrev = prev === 0 ? "—" : pct(f.conversion_from_previous);
      const users = `${int(f.users)} ${f.users === 1 ? "user" : "users"}`;
      const conv = i === 0 ? "start" : `${ofPrev} of previous · −${int(f.drop_off)}`;
      const g = s("g", { class: "step", data: { node: f.node_id, users: f.users } },
        s("title", {}, `${f.node_id}: ${users} (${pct(share)} of the first step); ${conv}`),
        s("rect", { x: m.left, y: barY, width: w, height: barH, rx: 3, class: "track" }),
        s("rect", { x: m.left, y: barY, width: Math.max(f.users > 0 ? 2 : 0, x(f.users) - m.left), height: barH, rx: 3, class: i === 0 ? "bar first" : "bar" }),
      );
      if (narrow) {
        g.append(
          s("text", { x: m.left, y: y0 + 15, class: "label" }, f.node_id),
          s("text", { x: width - m.right, y: y0 + 15, class: "value", "text-anchor": "end" }, `${int(f.users)} · ${i === 0 ? "start" : ofPrev}`),
        );
      } else {
        g.append(
          s("text", { x: m.left - 10, y: barY + barH / 2 + 4, class: "label", "text-anchor": "end" }, f.node_id),
          s("text", { x: width - m.right + 10, y: barY + barH / 2 - 2, class: "value" }, users),
          s("text", { x: width - m.right + 10, y: barY + barH / 2 + 12, class: "sub" }, i === 0 ? "sent to" : `${ofPrev} of prev.`),
        );
      }
      bars.append(g);
    });
    svg.append(bars);
    replace(container, svg);
  };
  const r = responsive(container, signal, draw);
  return { update(d) { funnel = d; r.redraw(); } };
}

/** A thin bar (tables): `value` of `max`, 100% of its cell's width. */
export function meter(value, max, cls = "") {
  const frac = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  return s("svg", { class: ["meter", cls], width: "100%", height: 6, "aria-hidden": "true", preserveAspectRatio: "none", viewBox: "0 0 100 6" },
    s("rect", { x: 0, y: 0, width: 100, height: 6, rx: 3, class: "track" }),
    s("rect", { x: 0, y: 0, width: frac * 100, height: 6, rx: 3, class: "fill" }));
}

/** A legend row. */
export function legend(entries) {
  return h("div", { class: "legend" }, entries.map(([cls, text]) => h("span", { class: "legend-item" }, h("i", { class: ["swatch", cls] }), text)));
}
