// Journeys: the users of a job (find one, filter, page through), and one
// user's path through the script: each step's node, choice and time.

import { h, icon, replace } from "./dom.js";
import { get, seg, ApiError } from "./api.js";
import { int, duration, dateTime, timeOfDay, day } from "./format.js";
import { Live } from "./live.js";
import { pageHeader, card, kpi, table, loading, empty, errorState, segmented, route, pill, differs } from "./kit.js";

const PAGE = 20;

function outcome(j) {
  return j.completed ? pill("Completed", "ok") : pill("In progress", "neutral");
}

/** The journeys card of a job page. */
export function journeysCard(ctx, cid, job) {
  const { signal } = ctx;
  const path = `/v1/campaigns/${seg(cid)}/jobs/${seg(job)}/journeys`;
  const list = h("div", {}, loading("Loading journeys…"));
  const more = h("div", { class: "pager" });
  const input = h("input", { class: "input", id: "find-user", type: "search", placeholder: "User id", autocomplete: "off", spellcheck: "false", "aria-label": "User id" });
  const find = h("form", { class: "find-user", role: "search" }, icon("search"), input, h("button", { class: "btn", type: "submit" }, "Open journey"));
  find.addEventListener("submit", (e) => {
    e.preventDefault();
    const user = input.value.trim();
    if (user) location.hash = route("campaigns", cid, "jobs", job, "journeys", user);
  });
  let completed = "";
  const filterSlot = h("div", {});
  const drawFilter = () => replace(filterSlot, segmented("Outcome", [["", "All"], ["true", "Completed"], ["false", "Not completed"]], completed, (v) => { completed = v; reload(); }));

  const columns = [
    { label: "User", key: "user_id", cls: "primary", cell: (j) => h("span", { class: "id" }, j.user_id) },
    { label: "Steps", key: "total_interactions", num: true, cell: (j) => int(j.total_interactions) },
    { label: "Outcome", key: "completed", cell: outcome },
    { label: "Exit node", key: "exit_node", cell: (j) => (j.exit_node ? h("span", { class: "node" }, j.exit_node) : h("span", { class: "muted" }, "—")) },
    { label: "Completion time", key: "completion_seconds", num: true, cell: (j) => duration(j.completion_seconds) },
  ];
  let rows = [];
  let cursor = null;
  const draw = () => {
    replace(list, rows.length
      ? table(columns, rows, { rowHref: (j) => route("campaigns", cid, "jobs", job, "journeys", j.user_id), rowKey: (j) => j.user_id, cls: "journeys" })
      : empty(completed ? "No journeys match" : "No journeys yet", completed ? "Try another outcome." : "Journeys appear as users are sent to.", "user"));
    replace(more, h("span", { class: "muted" }, rows.length ? `${int(rows.length)} shown` : ""),
      cursor ? h("button", { class: "btn", type: "button", id: "more-journeys", on: { click: page } }, "Load more") : null);
  };
  async function page() {
    try {
      const r = await get(path, { completed, cursor, limit: PAGE }, { signal });
      rows = rows.concat(r.journeys);
      cursor = r.next_cursor;
      draw();
    } catch (e) {
      if (!signal.aborted) replace(list, errorState(e, reload));
    }
  }
  function reload() {
    rows = [];
    cursor = null;
    drawFilter();
    replace(list, loading("Loading journeys…"));
    replace(more);
    page();
  }
  reload();
  return card("Journeys", [h("div", { class: "toolbar in-card" }, find, filterSlot), list, more],
    { subtitle: "Each user's path through the script in this job.", cls: "journeys-card" });
}

function steps(j, tz) {
  if (!j.steps.length) return empty("No steps yet", "The user was sent the first message but has not answered.", "user");
  let ended = false;
  let prev = null;
  return h("ol", { class: "timeline", id: "steps" }, j.steps.map((st, i) => {
    const isEnd = !ended && j.exit_node && st.node_id === j.exit_node;
    if (isEnd) ended = true;
    const t = new Date(st.occurred_at).getTime();
    const gap = prev === null ? null : (t - prev) / 1000;
    prev = t;
    return h("li", { class: ["step", isEnd && "end"], data: { node: st.node_id, choice: st.choice, event: st.event_id } },
      h("span", { class: "step-index", "aria-hidden": "true" }, isEnd ? icon("flag") : String(i + 1)),
      h("div", { class: "step-body" },
        h("div", { class: "step-main" },
          h("span", { class: "step-choice" }, "Chose ", h("q", { class: "choice" }, st.choice)),
          h("span", { class: "arrow", "aria-hidden": "true" }, "→"),
          h("span", { class: "node" }, st.node_id),
          isEnd ? pill("End node", "ok") : null),
        h("div", { class: "step-meta" },
          h("time", { datetime: st.occurred_at, title: dateTime(st.occurred_at, tz) }, `${day(st.occurred_at, tz)} ${timeOfDay(st.occurred_at, tz)}`),
          gap !== null ? h("span", { class: "muted" }, ` · +${duration(gap)}`) : null)));
  }));
}

function pathStrip(j) {
  const nodes = j.steps.map((s) => s.node_id);
  return h("div", { class: "path", id: "path", "aria-label": "Path through the script" },
    h("span", { class: "path-node start" }, "sent"),
    nodes.map((n, i) => [
      h("span", { class: "path-arrow", "aria-hidden": "true" }, icon("next")),
      h("span", { class: ["path-node", j.exit_node === n && nodes.indexOf(n) === i && "end"] }, n),
    ]));
}

export async function renderJourney(root, ctx) {
  const [cid, job, user] = ctx.params;
  const { signal, session } = ctx;
  const tz = session.timezone;
  ctx.setTitle(`${user} · ${cid}`);
  const path = `/v1/campaigns/${seg(cid)}/jobs/${seg(job)}/journeys/${seg(user)}`;
  const crumbs = [["Campaigns", "#/campaigns"], [cid, route("campaigns", cid)], [`Job ${job}`, route("campaigns", cid, "jobs", job)], [user, null]];
  const body = h("div", {}, loading("Loading the journey…"));
  const head = h("div", {});
  const drawHead = (j) => replace(head, pageHeader({
    crumbs,
    title: h("span", {}, h("span", { class: "muted light" }, "User "), user),
    badge: j ? outcome(j) : null,
    meta: j && j.steps.length ? [
      h("span", {}, `First step ${dateTime(j.steps[0].occurred_at, tz)}`),
      h("span", {}, `Last step ${dateTime(j.steps[j.steps.length - 1].occurred_at, tz)}`),
    ] : null,
  }));
  drawHead(null);
  replace(root, head, body);

  const newJourney = differs();
  const draw = (j) => {
    if (!newJourney(j)) return;
    drawHead(j);
    replace(body,
      h("div", { class: "kpis", id: "kpis" },
        kpi("total_interactions", "Steps", int(j.total_interactions), j.total_interactions, "interactions of this user"),
        kpi("completed", "Outcome", j.completed ? "Completed" : "Not completed", j.completed, j.completed ? "reached an end node" : "no end node reached yet", j.completed ? "accent-b" : ""),
        kpi("exit_node", "Exit node", j.exit_node || "—", j.exit_node, "first end node reached"),
        kpi("completion_seconds", "Completion time", duration(j.completion_seconds), j.completion_seconds, "first message to end node")),
      card("Path", pathStrip(j), { subtitle: "The nodes the user's choices led to, in order." }),
      card("Steps", steps(j, tz), { subtitle: `Times in ${tz || "UTC"}.` }));
  };

  const load = async () => draw(await get(path, {}, { signal }));
  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    if (e instanceof ApiError && e.status === 404) {
      replace(body, empty(`No journey for user “${user}”`, `This user has no journey in job ${job} of ${cid}.`, "user"),
        h("p", { class: "center" }, h("a", { class: "btn", href: route("campaigns", cid, "jobs", job) }, icon("back"), "Back to the job")));
      return;
    }
    replace(body, errorState(e, () => renderJourney(root, ctx)));
    return;
  }
  new Live({ poll: load, onStatus: ctx.setLive, signal }).start();
}
