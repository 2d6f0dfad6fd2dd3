// Saved dashboards: the tenant's list (open, edit, delete), and what the
// dashboard page and its form share: the widget types, their names, and
// whether the key may change dashboards.

import { h, icon, replace } from "./dom.js";
import { get, send, seg, session as currentSession, explain } from "./api.js";
import { int, dateTime, relative } from "./format.js";
import { Live } from "./live.js";
import { pageHeader, card, table, loading, empty, errorState, route, differs } from "./kit.js";
import { featureOff, offState } from "./view-alerts.js";

/** The widget types, as the API names them, and as people do. */
export const WIDGET_TYPES = [
  ["report_kpis", "Report figures"],
  ["funnel", "Funnel"],
  ["overview_trend", "Overview trend"],
  ["campaign_table", "Campaign table"],
  ["live_counter", "Live counter"],
  ["alerts", "Alerts"],
];

/** The figures a counter shows or a table sorts by. */
export const METRICS = [
  ["sent_users", "Sent users"],
  ["interacted_users", "Interacted users"],
  ["completed_users", "Completed users"],
  ["target_users", "Target users"],
  ["total_interactions", "Interactions"],
  ["messages_sent", "Messages sent"],
];

export const label = (list, key) => (list.find(([k]) => k === key) || [key, key])[1];

/** A widget's title: its own, else named after what it shows. */
export function widgetTitle(w) {
  if (w.title) return w.title;
  const p = w.params || {};
  const campaign = p.campaign_id ? `${p.campaign_id}${p.job_id ? ` · job ${p.job_id}` : ""}` : "";
  switch (w.type) {
    case "report_kpis": return campaign ? `Figures · ${campaign}` : "Figures";
    case "funnel": return campaign ? `Funnel · ${campaign}` : "Funnel";
    case "overview_trend": return `Activity per ${p.granularity || "day"}`;
    case "campaign_table": return "Campaigns";
    case "live_counter": return label(METRICS, p.metric);
    case "alerts": {
      const what = [p.status ? `${p.status[0].toUpperCase()}${p.status.slice(1)}` : "", p.severity || ""].filter(Boolean).join(" ");
      const name = what ? `${what} alerts` : "Alerts";
      return p.campaign_id ? `${name} · ${p.campaign_id}` : name;
    }
    default: return label(WIDGET_TYPES, w.type);
  }
}

const roles = new Map(); // key and tenant → Promise of true, false or null

/**
 * Whether the signed-in key may change dashboards: true (an editor or
 * admin), false (a viewer) or null (unknown: no answer). Asked once per
 * key and tenant (GET /v1/me).
 */
export function canEdit(sess = currentSession()) {
  const id = `${sess ? sess.key : ""}\n${sess ? sess.tenant || "" : ""}`;
  if (!roles.has(id)) {
    roles.set(id, get("/v1/me", {}, { sess }).then(
      (me) => Boolean(me.can_edit),
      () => null,
    ).then((r) => {
      if (r === null) roles.delete(id);
      return r;
    }));
  }
  return roles.get(id);
}

/** What a viewer key sees instead of a way to change dashboards. */
export function viewerState(action = "Creating and changing dashboards") {
  return h("div", { class: "state empty off card", id: "viewer-message", role: "status" },
    h("div", { class: "state-art" }, icon("lock")),
    h("h3", {}, "This key can only read dashboards"),
    h("p", {}, `${action} needs an editor key (role = "editor") or an admin key. Sign in with one to continue, or ask whoever manages your API keys.`),
    h("p", {}, h("a", { class: "btn", href: "#/dashboards" }, icon("back"), "Back to the dashboards")));
}

/** A delete button that asks first, in place: "Delete?" Yes / Cancel. */
export function deleteButton(d, onDeleted, onError) {
  const slot = h("span", { class: "confirm", data: { confirm: d.id } });
  const ask = () => replace(slot,
    h("span", { class: "confirm-text" }, `Delete “${d.name}”?`),
    h("button", { class: "btn small danger", type: "button", data: { action: "confirm-delete" }, on: { click: yes } }, "Delete"),
    h("button", { class: "btn small", type: "button", data: { action: "cancel-delete" }, on: { click: idle } }, "Cancel"));
  function idle() {
    replace(slot, h("button", { class: "btn small ghost", type: "button", title: `Delete ${d.name}`, data: { action: "delete" }, on: { click: ask } }, icon("trash"), "Delete"));
  }
  async function yes(e) {
    e.currentTarget.disabled = true;
    try {
      await send("DELETE", `/v1/dashboards/${seg(d.id)}`);
      onDeleted(d);
    } catch (err) {
      idle();
      onError(err);
    }
  }
  idle();
  return slot;
}

export async function render(root, ctx) {
  const { signal, session } = ctx;
  const tz = session.timezone;
  ctx.setTitle("Dashboards");
  replace(root, pageHeader({ title: "Dashboards" }), loading("Loading dashboards…"));
  const editable = await canEdit(session);
  if (signal.aborted) return;

  const message = h("div", { class: "form-message error", id: "dashboards-message", role: "alert", hidden: true });
  const say = (err) => {
    const { title, detail } = explain(err);
    message.hidden = false;
    message.textContent = `${title}. ${detail}`;
  };
  const list = h("div", {}, loading("Loading dashboards…"));
  const more = h("div", { class: "pager", hidden: true });
  const newButton = editable === false ? null : h("a", { class: "btn primary", href: "#/dashboards/new", id: "new-dashboard" }, icon("plus"), "New dashboard");
  const listCard = card(null, [list, more], { cls: "flush" });
  replace(root,
    pageHeader({
      title: "Dashboards",
      meta: [h("span", {}, "Saved pages of figures, funnels, trends and tables, kept live."),
        editable === false ? h("span", { class: "muted" }, "Read only: this key is a viewer.") : null],
      actions: newButton,
    }),
    message,
    listCard);

  const columns = [
    {
      label: "Dashboard", key: "name", cls: "primary wide",
      cell: (d) => h("span", { class: "id-cell" }, h("span", { class: "id" }, d.name),
        d.description ? h("span", { class: "muted small" }, d.description) : null),
    },
    { label: "Widgets", key: "widgets", num: true, cell: (d) => int(d.widgets.length) },
    { label: "Updated", key: "updated_at", cell: (d) => h("span", { title: dateTime(d.updated_at, tz) }, relative(d.updated_at)) },
    { label: "By", key: "created_by", cell: (d) => h("span", { class: "muted" }, d.created_by) },
  ];
  if (editable !== false) {
    columns.push({
      label: "", key: "actions", cls: "row-actions",
      cell: (d) => h("span", { class: "row-buttons" },
        h("a", { class: "btn small ghost", href: route("dashboards", d.id, "edit"), data: { action: "edit" } }, icon("edit"), "Edit"),
        deleteButton(d, () => { rows = rows.filter((r) => r.id !== d.id); draw(); }, say)),
    });
  }

  let rows = [];
  let next = null;
  const draw = () => {
    replace(list, rows.length
      ? table(columns, rows, { rowHref: (d) => route("dashboards", d.id), rowKey: (d) => d.id, cls: "dashboards" })
      : h("div", { id: "no-dashboards" },
        empty("No dashboards yet", editable === false
          ? "Dashboards keep the figures you watch on one page. An editor key can create them."
          : "Keep the figures you watch on one page: a campaign's figures and funnel, the tenant's trend, a table of campaigns, live counters, the latest alerts.",
        "dashboards"),
        newButton ? h("p", { class: "center" }, h("a", { class: "btn primary", href: "#/dashboards/new" }, icon("plus"), "Create a dashboard")) : null));
    more.hidden = !next;
    replace(more, h("span", { class: "muted" }, `${int(rows.length)} shown`),
      h("button", { class: "btn", type: "button", id: "more-dashboards", on: { click: loadMore } }, "Load more"));
  };
  async function loadMore() {
    try {
      const page = await get("/v1/dashboards", { cursor: next, limit: 100 }, { signal });
      rows = rows.concat(page.dashboards);
      next = page.next_cursor;
      draw();
    } catch (e) {
      if (!signal.aborted) say(e);
    }
  }

  const newList = differs();
  const load = async () => {
    const page = await get("/v1/dashboards", { limit: 100 }, { signal });
    if (!newList(page)) return;
    rows = page.dashboards;
    next = page.next_cursor;
    draw();
  };
  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    if (featureOff(e)) {
      listCard.replaceWith(offState("Saved dashboards", e));
      if (newButton) newButton.hidden = true;
    } else {
      replace(list, errorState(e, () => render(root, ctx)));
    }
    return;
  }
  new Live({ poll: load, onStatus: ctx.setLive, signal }).start();
}
