// The tenant's campaigns: a page at a time (cursors), filtered by status,
// kept live (the campaigns stream, or polling).

import { h, icon, replace } from "./dom.js";
import { get } from "./api.js";
import { int, pct, relative, when } from "./format.js";
import { meter } from "./charts.js";
import { Live } from "./live.js";
import {
  pageHeader, card, table, tableRow, statusBadge, loading, empty, errorState, segmented, route, withQuery, flashChanges,
  differs,
} from "./kit.js";

const PAGE = 25;
const STATUSES = [
  ["", "All"], ["RUNNING", "Running"], ["WAITING", "Waiting"], ["PREPARING", "Preparing"],
  ["NEW", "New"], ["COMPLETED", "Completed"], ["ERROR", "Error"],
];
const CURSORS = "campaign-analytics.cursors";

/** The cursors of pages 1..n of a filter, as this tab walked them. */
function cursors(status) {
  try {
    const all = JSON.parse(sessionStorage.getItem(CURSORS) || "{}");
    return Array.isArray(all[status]) ? all[status] : [""];
  } catch {
    return [""];
  }
}

function keepCursors(status, list) {
  let all = {};
  try {
    all = JSON.parse(sessionStorage.getItem(CURSORS) || "{}") || {};
  } catch {
    all = {};
  }
  all[status] = list;
  sessionStorage.setItem(CURSORS, JSON.stringify(all));
}

export const columns = (tz) => [
  {
    label: "Campaign", key: "campaign_id", cls: "primary",
    cell: (c) => h("span", { class: "id-cell" }, h("span", { class: "id" }, c.campaign_id),
      h("span", { class: "muted small" }, `Last event ${when(c.last_event_at, tz)}`)),
  },
  { label: "Status", key: "status", cell: (c) => statusBadge(c.status) },
  { label: "Target", key: "target_users", num: true, cell: (c) => int(c.target_users) },
  { label: "Sent", key: "sent_users", num: true, cell: (c) => int(c.sent_users) },
  { label: "Interacted", key: "interacted_users", num: true, cell: (c) => int(c.interacted_users) },
  { label: "Completed", key: "completed_users", num: true, cell: (c) => int(c.completed_users) },
  {
    label: "Interaction rate", key: "interaction_rate", num: true, cls: "rate",
    cell: (c) => h("span", { class: "rate-cell" }, h("span", {}, pct(c.interaction_rate)), meter(c.interaction_rate, 100, "interaction")),
  },
  {
    label: "Completion rate", key: "completion_rate", num: true, cls: "rate",
    cell: (c) => h("span", { class: "rate-cell" }, h("span", {}, pct(c.completion_rate)), meter(c.completion_rate, 100, "completion")),
  },
];

export async function render(root, ctx) {
  const { query, signal, session } = ctx;
  const COLUMNS = columns(session.timezone);
  const status = query.get("status") || "";
  const cursor = query.get("cursor") || "";
  const page = Math.max(1, Number(query.get("page")) || 1);
  ctx.setTitle("Campaigns");

  const go = (q) => { location.hash = withQuery("#/campaigns", q); };
  const filters = segmented("Status", STATUSES, status, (s) => go({ status: s }));
  const stamp = h("span", { class: "muted" });
  const content = h("div", { class: "campaigns-body" }, loading("Loading campaigns…"));
  const pager = h("div", { class: "pager" });
  replace(root,
    pageHeader({ title: "Campaigns", meta: [h("span", {}, "Reports of every campaign, all jobs together. "), stamp] }),
    h("div", { class: "toolbar" }, filters),
    card(null, [content, pager], { cls: "flush" }));

  let rows = [];
  let next = null;
  let tbody = null;

  const draw = () => {
    if (rows.length === 0) {
      tbody = null;
      replace(content, status
        ? empty(`No ${status.toLowerCase()} campaigns`, "No campaign has this status right now.")
        : empty("No campaigns yet", "Campaigns appear here as soon as the processor has seen their first events."));
    } else {
      const t = table(COLUMNS, rows, {
        rowHref: (c) => route("campaigns", c.campaign_id),
        rowKey: (c) => c.campaign_id,
        cls: "campaigns",
      });
      flashChanges(content.querySelector("tbody"), t.querySelector("tbody"));
      replace(content, t);
      tbody = t.querySelector("tbody");
    }
    const newest = rows.map((r) => r.as_of).sort().pop();
    stamp.textContent = newest ? `Figures as of ${relative(newest)}.` : "";
    drawPager();
  };

  const drawPager = () => {
    const first = (page - 1) * PAGE + 1;
    replace(pager,
      h("span", { class: "muted", id: "page-info" }, rows.length ? `${int(first)}–${int(first + rows.length - 1)}` : ""),
      h("div", { class: "pager-buttons" },
        h("button", {
          class: "btn", type: "button", id: "prev-page", disabled: page <= 1,
          on: { click: () => { const list = cursors(status); go({ status, cursor: list[page - 2] || "", page: page - 1 > 1 ? page - 1 : "" }); } },
        }, icon("back"), "Previous"),
        h("button", {
          class: "btn", type: "button", id: "next-page", disabled: !next,
          on: {
            click: () => {
              const list = cursors(status).slice(0, page);
              list[page] = next;
              keepCursors(status, list);
              go({ status, cursor: next, page: page + 1 });
            },
          },
        }, "Next", icon("next"))));
  };

  const newPage = differs();
  const load = async () => {
    const r = await get("/v1/campaigns", { status, cursor, limit: PAGE }, { signal });
    if (!newPage(r)) return;
    rows = r.campaigns;
    next = r.next_cursor;
    draw();
  };

  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    replace(content, errorState(e, () => render(root, ctx)));
    return;
  }
  if (page === 1) keepCursors(status, [""]);

  // A campaign from the stream: updated in place; a new one is inserted
  // when its id falls within this page; one that left the filter leaves.
  const upsert = (c) => {
    if (!c || !c.campaign_id) return;
    const i = rows.findIndex((r) => r.campaign_id === c.campaign_id);
    if (status && c.status !== status) {
      if (i >= 0) rows.splice(i, 1);
    } else if (i >= 0) {
      rows[i] = c;
    } else {
      const lo = page === 1 ? "" : rows.length ? rows[0].campaign_id : null;
      const hi = next ? rows.length ? rows[rows.length - 1].campaign_id : null : "\uffff";
      if (lo === null || hi === null || c.campaign_id < lo || c.campaign_id > hi) return;
      rows.push(c);
      rows.sort((a, b) => (a.campaign_id < b.campaign_id ? -1 : 1));
    }
    if (tbody && i >= 0 && rows[i] === c) {
      const old = tbody.querySelector(`tr[data-key="${CSS.escape(c.campaign_id)}"]`);
      const fresh = tableRow(COLUMNS, c, { rowHref: (x) => route("campaigns", x.campaign_id), rowKey: (x) => x.campaign_id });
      if (old) {
        flashChanges(old, fresh);
        old.replaceWith(fresh);
        const newest = rows.map((r) => r.as_of).sort().pop();
        stamp.textContent = newest ? `Figures as of ${relative(newest)}.` : "";
        return;
      }
    }
    draw();
  };

  const remove = (id) => {
    const i = rows.findIndex((r) => r.campaign_id === id);
    if (i < 0) return;
    rows.splice(i, 1);
    draw();
  };

  new Live({
    stream: () => ({ path: "/v1/campaigns/stream", params: { status } }),
    onEvent: (ev) => {
      if (ev.event === "campaign") upsert(ev.data);
      // A campaign that left the status filter.
      if (ev.event === "removed") remove(ev.data && ev.data.campaign_id);
    },
    poll: load,
    onStatus: ctx.setLive,
    signal,
  }).start();
}
