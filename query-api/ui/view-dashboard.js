// A saved dashboard: its widgets on a 12-column grid (each full width on a
// phone), drawn with the other views' figures, charts and tables from one
// read of /v1/dashboards/{id}/data. Kept live by the campaigns stream,
// opened at the read's cursor: a change of any campaign reads the data
// again (at most once a second), and so does a fired or resolved alert
// when an alerts widget is shown; polling when the stream is not up.

import { h, icon, replace } from "./dom.js";
import { get, seg } from "./api.js";
import { int, pct, dateTime, relative, periodLabel } from "./format.js";
import { funnelChart, columnChart } from "./charts.js";
import { Live } from "./live.js";
import { pageHeader, card, table, statusBadge, loading, empty, errorState, segmented, route, withQuery, flashChanges, differs } from "./kit.js";
import { kpis } from "./view-campaign.js";
import { columns as campaignColumns } from "./view-campaigns.js";
import { periodStarts } from "./view-overview.js";
import { featureOff, offState, severityPill, alertStatusPill, alertCampaign } from "./view-alerts.js";
import { METRICS, canEdit, label, widgetTitle } from "./view-dashboards.js";

const TREND_METRICS = [
  ["sent_users", "Sent", false],
  ["interacted_users", "Interacted", false],
  ["interactions", "Interactions", false],
  ["interaction_rate", "Rate", true],
];
const NOUN = { day: "day", week: "week", month: "month" };
const SORT_NAMES = {
  campaign_id: "campaign id", interaction_rate: "interaction rate", completion_rate: "completion rate",
  last_event_at: "last event",
};
/** At most one read of the data a second, whatever the stream says. */
const MIN_GAP = 1000;
/** Events of one commit come together: wait this long for the rest. */
const SETTLE = 150;

/** A widget without data: why, in place of its figures. */
function widgetState(err) {
  const missing = err.code === "not_found";
  return h("div", { class: ["state", "widget-state", missing ? "empty" : "error"], role: missing ? "status" : "alert", data: { code: err.code } },
    h("div", { class: "state-art" }, icon(missing ? "reports" : "alerts")),
    h("h3", {}, missing ? "No report yet" : "This widget could not be read"),
    h("p", {}, err.message || ""));
}

const campaignHref = (p) => (p.job_id ? route("campaigns", p.campaign_id, "jobs", p.job_id) : route("campaigns", p.campaign_id));
const campaignText = (p) => `${p.campaign_id}${p.job_id ? ` · job ${p.job_id}` : " · all jobs"}`;

/** One widget on the page; `update` draws its data (when it changed). */
function widgetView(spec, ctx) {
  const { session } = ctx;
  const tz = session.timezone;
  const p = spec.params || {};
  const ctl = new AbortController();
  ctx.signal.addEventListener("abort", () => ctl.abort());
  const signal = ctl.signal;
  const body = h("div", { class: "widget-body" });
  const sub = h("span", { class: "widget-sub" });
  const actions = h("span", { class: "widget-actions" });
  const flush = spec.type === "campaign_table";
  const el = card(widgetTitle(spec), body, { subtitle: sub, actions, cls: `widget w-${spec.width} widget-${spec.type}${flush ? " flush" : ""}` });
  el.dataset.widget = spec.id;
  el.dataset.type = spec.type;
  const same = differs();
  let chart = null;
  let last = null;
  const box = h("div", { class: spec.type === "funnel" ? "funnel-box" : "chart-box" });

  if (spec.type === "alerts") {
    replace(actions, h("a", { class: "link-btn", href: withQuery("#/alerts", { status: p.status || "" }), data: { action: "open-alerts" } }, "Open alerts"));
  } else if (p.campaign_id && spec.type !== "live_counter") {
    replace(actions, h("a", { class: "link-btn", href: campaignHref(p) }, "Open report"));
  }
  let metric = TREND_METRICS[0];

  const trend = (d) => {
    const noun = NOUN[d.granularity] || d.granularity;
    replace(sub, `Last ${int(p.periods)} ${noun}s, in ${d.timezone}`);
    replace(actions, segmented("Metric", TREND_METRICS.map(([k, l]) => [k, l]), metric[0], (m) => {
      metric = TREND_METRICS.find(([k]) => k === m) || TREND_METRICS[0];
      trend(last.data);
    }));
    if (!d.periods.length) {
      chart = null;
      replace(body, empty("No activity in these periods", "", "overview"));
      return;
    }
    const byStart = new Map(d.periods.map((x) => [x.period_start, x]));
    const starts = [...new Set([...periodStarts(d.granularity, d.from, d.to), ...byStart.keys()])].sort();
    const items = starts.map((start) => ({
      key: start,
      label: periodLabel(start, d.granularity),
      long: periodLabel(start, d.granularity, true),
      value: byStart.has(start) ? byStart.get(start)[metric[0]] : 0,
      filled: !byStart.has(start),
    }));
    const opts = { percent: metric[2], format: metric[2] ? pct : int, name: metric[1], signal, height: 220 };
    if (!chart || !body.contains(box)) {
      replace(body, box);
      chart = columnChart(box, items, opts);
    } else {
      chart.update(items, opts);
    }
    box.dataset.granularity = d.granularity;
    box.dataset.periods = String(d.periods.length);
  };

  const draw = {
    report_kpis: (r) => {
      replace(sub, statusBadge(r.status), " ", campaignText(r));
      const fresh = kpis(r, tz);
      fresh.removeAttribute("id");
      flashChanges(body.querySelector(".kpis"), fresh);
      replace(body, fresh);
    },
    funnel: (f) => {
      replace(sub, `Users reaching each step · ${campaignText(f)}`);
      if (!f.funnel.length) {
        chart = null;
        replace(body, empty("No funnel yet", "The funnel appears once the campaign's script is known.", "overview"));
        return;
      }
      if (!chart || !body.contains(box)) {
        replace(body, box);
        chart = funnelChart(box, f.funnel, { signal });
      } else {
        chart.update(f.funnel);
      }
      box.dataset.steps = String(f.funnel.length);
    },
    overview_trend: trend,
    campaign_table: (t) => {
      const sort = p.sort || "-sent_users";
      const by = sort.replace(/^-/, "");
      replace(sub, `${int(t.matching)} ${t.matching === 1 ? "campaign" : "campaigns"}${p.status ? ` with status ${p.status.toLowerCase()}` : ""} · by ${SORT_NAMES[by] || label(METRICS, by).toLowerCase()}, ${sort.startsWith("-") ? "largest" : "smallest"} first`);
      if (!t.campaigns.length) {
        replace(body, empty(p.status ? `No ${p.status.toLowerCase()} campaigns` : "No campaigns yet", "", "campaigns"));
        return;
      }
      // Narrower than the page: the main figures only.
      const cols = spec.width >= 10 ? campaignColumns(tz) : campaignColumns(tz).filter((c) => !["target_users", "completion_rate"].includes(c.key));
      const fresh = table(cols, t.campaigns, {
        rowHref: (c) => route("campaigns", c.campaign_id),
        rowKey: (c) => c.campaign_id,
        cls: "campaign-table",
      });
      flashChanges(body.querySelector("tbody"), fresh.querySelector("tbody"));
      replace(body, fresh);
    },
    live_counter: (c) => {
      replace(sub, c.campaign_id ? h("a", { href: route("campaigns", c.campaign_id) }, c.campaign_id) : `All campaigns (${int(c.campaigns)})`);
      const fresh = h("div", { class: "counter" },
        h("div", { class: "counter-value", data: { kpi: "value", value: c.value } }, int(c.value)),
        h("div", { class: "counter-label" }, label(METRICS, c.metric)));
      flashChanges(body.querySelector(".counter"), fresh);
      replace(body, fresh);
    },
    alerts: (a) => {
      replace(sub,
        h("span", { data: { count: "total", value: a.total } }, `${int(a.total)} ${a.total === 1 ? "alert" : "alerts"}`),
        " · ",
        h("span", { class: a.unread ? "unread-count" : "", data: { count: "unread", value: a.unread } }, `${int(a.unread)} unread`));
      if (!a.alerts.length) {
        const what = [p.status, p.severity].filter(Boolean).join(" ");
        replace(body, empty(`No ${what ? `${what} ` : ""}alerts${p.campaign_id ? ` for ${p.campaign_id}` : ""}`, "Alerts appear here when a rule fires.", "alerts"));
        return;
      }
      // Newest first, as the API answers.
      replace(body, h("ul", { class: "alert-list" }, a.alerts.map((x) => h("li", { class: ["alert-row", !x.read && "unread"], data: { key: x.id, status: x.status, severity: x.severity } },
        severityPill(x),
        h("span", { class: "alert-text" },
          h("span", { class: "alert-message" }, x.message),
          h("span", { class: "alert-meta muted small" },
            alertCampaign(x), " · ",
            h("span", { title: dateTime(x.fired_at, tz), data: { field: "fired_at" } }, relative(x.fired_at)))),
        alertStatusPill(x)))));
    },
  };

  return {
    el,
    dispose: () => ctl.abort(),
    update(w) {
      if (!same(w)) return;
      last = w;
      el.dataset.state = w.error ? "error" : "ok";
      // A link to a report that does not exist leads nowhere.
      if (spec.type !== "overview_trend") actions.hidden = Boolean(w.error);
      if (w.error || !w.data || !draw[w.type]) {
        chart = null;
        replace(body, widgetState(w.error || { code: "no_data", message: `No data for a widget of type ${w.type}.` }));
        return;
      }
      draw[w.type](w.data);
    },
  };
}

export async function render(root, ctx) {
  const { signal } = ctx;
  const id = ctx.params[0];
  const base = `/v1/dashboards/${seg(id)}`;
  ctx.setTitle("Dashboard");
  const crumbs = [["Dashboards", "#/dashboards"]];
  const head = h("div", {}, pageHeader({ crumbs, title: "Dashboard" }));
  const grid = h("div", { class: "dash-grid", id: "dashboard-grid" });
  const body = h("div", {}, loading("Loading the dashboard…"));
  replace(root, head, body);

  let def = null;
  let asOf = null;
  let layout = "";
  let views = new Map();
  let reads = 0;
  // null until known: the Edit button shows unless the key is a viewer.
  let editor = null;
  canEdit(ctx.session).then((e) => {
    editor = e;
    if (def && e === false && !signal.aborted) drawHead();
  });

  const asOfText = () => (asOf ? `Figures as of ${relative(asOf)}` : "No report read yet");
  const drawHead = () => {
    ctx.setTitle(def.name);
    replace(head, pageHeader({
      crumbs: [...crumbs, [def.name, null]],
      title: def.name,
      meta: [
        def.description ? h("span", { class: "dash-description" }, def.description) : null,
        h("span", { id: "as-of", title: asOf ? dateTime(asOf, ctx.session.timezone) : "", data: { asOf: asOf || "" } }, asOfText()),
        h("span", {}, `${int(def.widgets.length)} ${def.widgets.length === 1 ? "widget" : "widgets"}`),
      ],
      actions: editor === false ? null : h("a", { class: "btn", href: route("dashboards", id, "edit"), id: "edit-dashboard" }, icon("edit"), "Edit"),
    }));
  };

  const apply = async (data) => {
    if (!def || data.dashboard_version > def.version) def = await get(base, {}, { signal });
    asOf = data.as_of;
    const shape = JSON.stringify([def.version, data.widgets.map((w) => [w.id, w.type, w.width, w.title || ""])]);
    if (shape !== layout) {
      layout = shape;
      drawHead();
      for (const v of views.values()) v.dispose();
      views = new Map();
      const specs = new Map(def.widgets.map((w) => [w.id, w]));
      for (const w of data.widgets) {
        const spec = { ...(specs.get(w.id) || { params: {} }), id: w.id, type: w.type, width: w.width, title: w.title };
        views.set(w.id, widgetView(spec, ctx));
      }
      replace(grid, [...views.values()].map((v) => v.el));
      if (!body.contains(grid)) {
        replace(body, data.widgets.length ? grid : empty("No widgets", "Edit the dashboard to add figures, funnels, trends, tables or counters.", "dashboards"));
      }
    } else {
      const el = head.querySelector("#as-of");
      if (el) {
        el.textContent = asOfText();
        el.dataset.asOf = asOf || "";
        el.title = asOf ? dateTime(asOf, ctx.session.timezone) : "";
      }
    }
    for (const w of data.widgets) views.get(w.id).update(w);
    reads += 1;
    grid.dataset.reads = String(reads);
    grid.dataset.version = String(data.dashboard_version);
  };

  const load = async () => {
    const data = await get(`${base}/data`, {}, { signal });
    await apply(data);
    return data;
  };

  let first;
  try {
    [def, first] = await Promise.all([get(base, {}, { signal }), get(`${base}/data`, {}, { signal })]);
    await apply(first);
  } catch (e) {
    if (signal.aborted) return;
    replace(body, featureOff(e) && e.status !== 404 ? offState("Saved dashboards", e) : errorState(e, () => render(root, ctx)));
    return;
  }

  // Campaign events say that figures changed: the data is read again,
  // SETTLE ms after the first event (a commit's other events come with
  // it) and never within MIN_GAP of the last read.
  let timer = 0;
  let running = false;
  let again = false;
  let lastRead = Date.now();
  const run = async () => {
    timer = 0;
    if (signal.aborted) return;
    running = true;
    lastRead = Date.now();
    try {
      await load();
    } catch {
      // the next event, or polling, reads again
    } finally {
      running = false;
      if (again) {
        again = false;
        soon();
      }
    }
  };
  function soon() {
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    if (!timer) timer = setTimeout(run, Math.max(SETTLE, lastRead + MIN_GAP - Date.now()));
  }
  // "Figures as of 5 seconds ago" keeps counting while nothing changes.
  const tick = setInterval(() => {
    const el = head.querySelector("#as-of");
    if (el && asOf) el.textContent = asOfText();
  }, 15000);
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    clearInterval(tick);
  });

  const live = new Live({
    stream: () => ({ path: "/v1/campaigns/stream" }),
    onEvent: (ev) => {
      if (ev.event !== "synced") soon();
    },
    poll: load,
    onStatus: ctx.setLive,
    signal,
  });
  // Only what changed after the read: the stream resumes at its cursor.
  live.lastId = first.cursor || null;
  live.start();

  // Alert widgets also follow the alerts stream (from now on): a fired or
  // resolved alert reads the data again. Without the stream, the polling
  // above keeps them current.
  if (first.widgets.some((w) => w.type === "alerts" && !w.error)) {
    new Live({
      stream: () => ({ path: "/v1/alerts/stream" }),
      onEvent: () => soon(),
      poll: async () => {},
      signal,
    }).start();
  }
}
