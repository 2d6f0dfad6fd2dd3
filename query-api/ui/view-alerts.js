// Alerts, read only: the counts and the latest alerts. A server without
// the metadata database answers 503 (alerts off): said as such.

import { h, icon, replace } from "./dom.js";
import { get, ApiError } from "./api.js";
import { int, num, dateTime, relative } from "./format.js";
import { Live } from "./live.js";
import { pageHeader, card, kpi, table, loading, empty, errorState, segmented, route, withQuery, pill, differs } from "./kit.js";

const cap = (t) => (t ? t[0].toUpperCase() + t.slice(1) : t);
const SEVERITY = { critical: "error", warning: "warn", info: "neutral" };

/** An alert's severity and status, as pills (also on the dashboards). */
export const severityPill = (a) => pill(cap(a.severity), SEVERITY[a.severity] || "neutral");
export const alertStatusPill = (a) => pill(a.status === "firing" ? "Firing" : "Resolved", a.status === "firing" ? "error" : "ok");
/** A link to the campaign (and job) an alert is about, or a dash. */
export const alertCampaign = (a) => (a.campaign_id
  ? h("a", { href: a.job_id ? route("campaigns", a.campaign_id, "jobs", a.job_id) : route("campaigns", a.campaign_id) }, a.campaign_id, a.job_id ? ` · ${a.job_id}` : "")
  : h("span", { class: "muted" }, "—"));

/** A feature the server runs without (503 `unavailable`, or no route). */
export function featureOff(e) {
  return e instanceof ApiError && (e.status === 503 || e.status === 404 || e.status === 501);
}

export function offState(what, e) {
  return h("div", { class: "state empty off card", id: "feature-off" },
    h("div", { class: "state-art" }, icon("alerts")),
    h("h3", {}, `${what} are off on this server`),
    h("p", {}, e.status === 503 ? "The server runs without its metadata database, which keeps them." : "This server does not serve them."),
    e.message ? h("p", { class: "muted small" }, e.message) : null);
}

function value(a) {
  if (a.value === null || a.value === undefined) return h("span", { class: "muted" }, "—");
  return a.threshold === null || a.threshold === undefined ? num(a.value) : `${num(a.value)} / ${num(a.threshold)}`;
}

export async function render(root, ctx) {
  const { query, signal, session } = ctx;
  const tz = session.timezone;
  const status = ["firing", "resolved"].includes(query.get("status")) ? query.get("status") : "";
  ctx.setTitle("Alerts");
  const statsSlot = h("div", { class: "stats-slot" }, loading("Loading alerts…"));
  const listSlot = h("div", {});
  const listCard = card("Latest alerts", listSlot, { cls: "flush" });
  const toolbar = h("div", { class: "toolbar" }, segmented("Status", [["", "All"], ["firing", "Firing"], ["resolved", "Resolved"]], status, (s) => { location.hash = withQuery("#/alerts", { status: s }); }));
  replace(root,
    pageHeader({ title: "Alerts", meta: [h("span", {}, "Fired by the alert rules as reports change.")] }),
    statsSlot, toolbar, listCard);

  const columns = [
    { label: "Severity", key: "severity", cell: severityPill },
    {
      label: "Alert", key: "alert", cls: "primary wide",
      cell: (a) => h("span", { class: "id-cell" }, h("span", { class: ["id", !a.read && "unread"] }, a.rule_name || "Manual alert"), h("span", { class: "muted small" }, a.message)),
    },
    { label: "Campaign", key: "campaign_id", cell: alertCampaign },
    { label: "Status", key: "status", cell: alertStatusPill },
    { label: "Value / threshold", key: "value", num: true, cell: value },
    { label: "Fired", key: "fired_at", cell: (a) => h("span", { title: dateTime(a.fired_at, tz) }, relative(a.fired_at)) },
    { label: "Resolved", key: "resolved_at", cell: (a) => (a.resolved_at ? h("span", { title: dateTime(a.resolved_at, tz) }, relative(a.resolved_at)) : h("span", { class: "muted" }, "—")) },
  ];

  const newData = differs();
  const load = async () => {
    const [stats, page] = await Promise.all([
      get("/v1/alerts/stats", {}, { signal }),
      get("/v1/alerts", { status, limit: 50 }, { signal }),
    ]);
    if (!newData([stats, page])) return;
    const sev = stats.by_severity || {};
    replace(statsSlot, h("div", { class: "kpis", id: "kpis" },
      kpi("firing", "Firing", int(stats.firing), stats.firing, "alerts not resolved", stats.firing > 0 ? "accent-err" : ""),
      kpi("unread", "Unread", int(stats.total_unread), stats.total_unread, "for this key"),
      kpi("critical", "Critical", int(sev.critical || 0), sev.critical || 0, "by severity"),
      kpi("warning", "Warning", int(sev.warning || 0), sev.warning || 0, `${int(sev.info || 0)} info`)));
    replace(listSlot, page.alerts.length
      ? table(columns, page.alerts, { rowKey: (a) => a.id, cls: "alerts" })
      : empty(status ? `No ${status} alerts` : "No alerts", "Alerts appear here when a rule fires.", "alerts"));
  };
  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    replace(statsSlot, featureOff(e) ? offState("Alerts", e) : errorState(e, () => render(root, ctx)));
    toolbar.hidden = featureOff(e);
    listCard.hidden = true;
    return;
  }
  new Live({ poll: load, onStatus: ctx.setLive, signal }).start();
}
