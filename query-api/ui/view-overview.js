// The tenant overview: figures per day, week or month of the tenant's
// calendar (the API computes the periods in its time zone).

import { h, replace } from "./dom.js";
import { get } from "./api.js";
import { int, pct, periodLabel, today, addDays, monthsBack } from "./format.js";
import { columnChart } from "./charts.js";
import { Live } from "./live.js";
import { pageHeader, card, kpi, table, loading, empty, errorState, segmented, withQuery, flashChanges, differs } from "./kit.js";

const GRANULARITIES = [["day", "Day"], ["week", "Week"], ["month", "Month"]];
const METRICS = [
  ["sent_users", "Sent users", false],
  ["interacted_users", "Interacted users", false],
  ["interactions", "Interactions", false],
  ["interaction_rate", "Interaction rate", true],
  ["campaigns", "Active campaigns", false],
];
const NOUN = { day: "day", week: "week", month: "month" };

/** The first day of the month after `date`'s. */
function nextMonth(date) {
  const d = new Date(`${date.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 10);
}

/** Every period start in [from, to] (the API leaves out the periods
 * without events; the chart shows them, empty). */
export function periodStarts(granularity, from, to) {
  const out = [];
  if (!from || !to) return out;
  let d = from;
  if (granularity === "week") d = addDays(d, (8 - new Date(`${d}T00:00:00Z`).getUTCDay()) % 7);
  if (granularity === "month" && !d.endsWith("-01")) d = nextMonth(d);
  while (d <= to && out.length < 800) {
    out.push(d);
    d = granularity === "day" ? addDays(d, 1) : granularity === "week" ? addDays(d, 7) : nextMonth(d);
  }
  return out;
}

/** The default range of a granularity, ending today in the zone. */
function defaultRange(granularity, tz) {
  const to = today(tz);
  if (granularity === "month") return { from: monthsBack(to, 11), to };
  if (granularity === "week") return { from: addDays(to, -7 * 13 + 1), to };
  return { from: addDays(to, -29), to };
}

export async function render(root, ctx) {
  const { query, signal, session } = ctx;
  const tz = session.timezone || "UTC";
  const granularity = GRANULARITIES.some(([g]) => g === query.get("granularity")) ? query.get("granularity") : "day";
  const metric = METRICS.find(([m]) => m === query.get("metric")) || METRICS[0];
  const custom = Boolean(query.get("from") || query.get("to"));
  const range = custom ? { from: query.get("from") || "", to: query.get("to") || "" } : defaultRange(granularity, tz);
  ctx.setTitle("Overview");

  const state = { granularity, metric: metric[0], from: custom ? range.from : "", to: custom ? range.to : "" };
  const go = (change) => { location.hash = withQuery("#/overview", { ...state, ...change }); };

  const fromInput = h("input", { type: "date", class: "input", id: "from", value: range.from, "aria-label": "From" });
  const toInput = h("input", { type: "date", class: "input", id: "to", value: range.to, "aria-label": "To" });
  const rangeForm = h("form", { class: "range" },
    h("label", { class: "range-label", for: "from" }, "From"), fromInput,
    h("label", { class: "range-label", for: "to" }, "to"), toInput,
    h("button", { class: "btn", type: "submit" }, "Apply"),
    custom ? h("a", { class: "link-btn", href: withQuery("#/overview", { granularity, metric: state.metric }) }, "Reset") : null);
  rangeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ from: fromInput.value, to: toInput.value });
  });

  const kpiSlot = h("div", {}, loading("Loading the overview…"));
  const chartBox = h("div", { class: "chart-box", id: "overview-chart" });
  const chartSlot = h("div", {});
  const tableSlot = h("div", {});
  const chartTitle = h("span", {});
  replace(root,
    pageHeader({
      title: "Overview",
      meta: [h("span", {}, `Periods of the tenant's calendar (${tz}); weeks start on Monday.`)],
    }),
    h("div", { class: "toolbar" },
      segmented("Granularity", GRANULARITIES, granularity, (g) => go({ granularity: g, from: custom ? state.from : "", to: custom ? state.to : "" })),
      rangeForm),
    kpiSlot,
    card(chartTitle, [
      h("div", { class: "toolbar in-card" }, segmented("Metric", METRICS.map(([k, l]) => [k, l]), metric[0], (m) => go({ metric: m }))),
      chartSlot,
    ], { cls: "chart-card" }),
    card("Periods", tableSlot, { subtitle: "Users are distinct per campaign within a period, summed over campaigns." }));

  let chart = null;
  const newOverview = differs();
  const draw = (o) => {
    if (!newOverview(o)) return;
    const periods = o.periods;
    chartTitle.textContent = `${metric[1]} per ${NOUN[granularity]}`;
    const sent = periods.reduce((a, p) => a + p.sent_users, 0);
    const interacted = periods.reduce((a, p) => a + p.interacted_users, 0);
    const interactions = periods.reduce((a, p) => a + p.interactions, 0);
    const peak = periods.reduce((best, p) => (!best || p.sent_users > best.sent_users ? p : best), null);
    const fresh = h("div", { class: "kpis", id: "kpis" },
      kpi("periods", `${NOUN[granularity][0].toUpperCase()}${NOUN[granularity].slice(1)}s with activity`, int(periods.length), periods.length, `from ${periodLabel(range.from, "day", true)}`),
      kpi("interactions", "Interactions", int(interactions), interactions, "distinct events in the range"),
      kpi("peak", `Busiest ${NOUN[granularity]}`, peak ? periodLabel(peak.period_start, granularity) : "—", peak ? peak.period_start : null, peak ? `${int(peak.sent_users)} users sent to` : "no activity"),
      kpi("rate", "Interaction rate", pct(sent > 0 ? (interacted / sent) * 100 : 0), sent > 0 ? (interacted / sent) * 100 : 0, "interacted ÷ sent over the periods", "accent-a"));
    flashChanges(kpiSlot.querySelector("#kpis"), fresh);
    replace(kpiSlot, fresh);

    if (!periods.length) {
      chart = null;
      replace(chartSlot, empty("No activity in this range", granularity === "month" ? "Nothing happened in these months." : "Try a longer range, or the month view.", "overview"));
      replace(tableSlot, empty("No periods", "", "overview"));
      return;
    }
    const byStart = new Map(periods.map((p) => [p.period_start, p]));
    const starts = [...new Set([...periodStarts(granularity, o.from || range.from, o.to || range.to), ...byStart.keys()])].sort();
    const items = starts.map((start) => ({
      key: start,
      label: periodLabel(start, granularity),
      long: periodLabel(start, granularity, true),
      value: byStart.has(start) ? byStart.get(start)[metric[0]] : 0,
      filled: !byStart.has(start),
    }));
    const opts = { percent: metric[2], format: metric[2] ? pct : int, name: metric[1], signal };
    if (!chart || !chartSlot.contains(chartBox)) {
      replace(chartSlot, chartBox);
      chart = columnChart(chartBox, items, opts);
    } else {
      chart.update(items, opts);
    }
    chartBox.dataset.granularity = granularity;
    const t = table([
      { label: granularity === "day" ? "Day" : granularity === "week" ? "Week of" : "Month", key: "period", cls: "primary", cell: (p) => h("span", { data: { period: p.period_start } }, periodLabel(p.period_start, granularity, true)) },
      { label: "Campaigns", key: "campaigns", num: true, cell: (p) => int(p.campaigns) },
      { label: "Target", key: "target_users", num: true, cell: (p) => int(p.target_users) },
      { label: "Sent", key: "sent_users", num: true, cell: (p) => int(p.sent_users) },
      { label: "Interacted", key: "interacted_users", num: true, cell: (p) => int(p.interacted_users) },
      { label: "Interactions", key: "interactions", num: true, cell: (p) => int(p.interactions) },
      { label: "Interaction rate", key: "interaction_rate", num: true, cell: (p) => pct(p.interaction_rate) },
      { label: "Completed", key: "campaigns_completed", num: true, cell: (p) => int(p.campaigns_completed) },
      { label: "Running", key: "campaigns_running", num: true, cell: (p) => int(p.campaigns_running) },
      { label: "Error", key: "campaigns_error", num: true, cell: (p) => int(p.campaigns_error) },
    ], [...periods].reverse(), { rowKey: (p) => p.period_start, cls: "periods" });
    flashChanges(tableSlot.querySelector("tbody"), t.querySelector("tbody"));
    replace(tableSlot, t);
  };

  const load = async () => draw(await get("/v1/overview", { granularity, from: range.from, to: range.to }, { signal }));
  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    replace(kpiSlot, errorState(e, () => render(root, ctx)));
    replace(chartSlot);
    replace(tableSlot);
    return;
  }
  new Live({ poll: load, onStatus: ctx.setLive, signal }).start();
}
