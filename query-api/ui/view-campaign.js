// A campaign's report (all jobs) or one job's: figures, the funnel, the
// choices made at each node, the jobs (campaign) or the journeys (job);
// kept live by the report stream, or by polling.

import { h, replace } from "./dom.js";
import { get, seg } from "./api.js";
import { int, pct, duration, dateTime, relative, when } from "./format.js";
import { funnelChart, meter } from "./charts.js";
import { Live } from "./live.js";
import { pageHeader, card, kpi, table, statusBadge, loading, empty, errorState, route, flashChanges, differs } from "./kit.js";
import { journeysCard } from "./view-journeys.js";

export function renderCampaign(root, ctx) {
  return reportPage(root, ctx, ctx.params[0], null);
}

export function renderJob(root, ctx) {
  return reportPage(root, ctx, ctx.params[0], ctx.params[1]);
}

/** The figures of a report. */
export function kpis(r, tz) {
  const ofTarget = r.target_users > 0 ? `${pct((r.sent_users / r.target_users) * 100)} of target` : "no target known";
  return h("div", { class: "kpis", id: "kpis" },
    kpi("target_users", "Target users", int(r.target_users), r.target_users, "audience of the jobs"),
    kpi("sent_users", "Sent", int(r.sent_users), r.sent_users, ofTarget),
    kpi("interacted_users", "Interacted", int(r.interacted_users), r.interacted_users, "users with an interaction"),
    kpi("completed_users", "Completed", int(r.completed_users), r.completed_users, "reached an end node"),
    kpi("interaction_rate", "Interaction rate", pct(r.interaction_rate), r.interaction_rate, "interacted ÷ sent", "accent-a"),
    kpi("completion_rate", "Completion rate", pct(r.completion_rate), r.completion_rate, "completed ÷ sent", "accent-b"),
    kpi("avg_completion_seconds", "Avg. completion time", duration(r.avg_completion_seconds), r.avg_completion_seconds,
      r.completed_users > 0 ? "first message to end node" : "nobody completed yet"),
    kpi("total_interactions", "Interactions", int(r.total_interactions), r.total_interactions,
      `${int(r.messages_sent)} messages · ${int(r.warnings_sent)} warnings`));
}

/** The nodes of a report, in the funnel's order, then the others. */
function nodesTable(r) {
  if (!r.nodes.length) return empty("No choices yet", "Choices appear when users answer.", "reports");
  const order = new Map(r.funnel.map((f, i) => [f.node_id, i]));
  const nodes = [...r.nodes].sort((a, b) => (order.get(a.node_id) ?? 1e9) - (order.get(b.node_id) ?? 1e9) || (a.node_id < b.node_id ? -1 : 1));
  return table([
    { label: "Node", key: "node", cell: (n) => h("span", { class: "node" }, n.node_id) },
    { label: "Reached users", key: "reached", num: true, cell: (n) => int(n.reached_users) },
    {
      label: "Choices made there", key: "choices", cls: "choices",
      cell: (n) => {
        const entries = Object.entries(n.choices).sort((a, b) => b[1] - a[1]);
        const max = Math.max(1, ...entries.map(([, v]) => v));
        const total = entries.reduce((acc, [, v]) => acc + v, 0);
        if (!entries.length) return h("span", { class: "muted" }, "—");
        return h("ul", { class: "choice-list" }, entries.map(([choice, count]) =>
          h("li", { data: { choice, count } },
            h("span", { class: "choice-name", title: choice }, choice),
            meter(count, max, "choice"),
            h("span", { class: "choice-count" }, `${int(count)}`, h("span", { class: "muted" }, ` · ${pct((count / total) * 100)}`)))));
      },
    },
  ], nodes, { rowKey: (n) => n.node_id, cls: "nodes" });
}

const jobColumns = (tz) => [
  { label: "Job", key: "job_id", cls: "primary", cell: (j) => h("span", { class: "id-cell" }, h("span", { class: "id" }, j.job_id), h("span", { class: "muted small" }, `Last event ${when(j.last_event_at, tz)}`)) },
  { label: "Status", key: "status", cell: (j) => statusBadge(j.status) },
  { label: "Target", key: "target_users", num: true, cell: (j) => int(j.target_users) },
  { label: "Sent", key: "sent_users", num: true, cell: (j) => int(j.sent_users) },
  { label: "Interacted", key: "interacted_users", num: true, cell: (j) => int(j.interacted_users) },
  { label: "Completed", key: "completed_users", num: true, cell: (j) => int(j.completed_users) },
  { label: "Interaction rate", key: "interaction_rate", num: true, cls: "rate", cell: (j) => h("span", { class: "rate-cell" }, h("span", {}, pct(j.interaction_rate)), meter(j.interaction_rate, 100, "interaction")) },
  { label: "Completion rate", key: "completion_rate", num: true, cls: "rate", cell: (j) => h("span", { class: "rate-cell" }, h("span", {}, pct(j.completion_rate)), meter(j.completion_rate, 100, "completion")) },
  { label: "Avg. completion", key: "avg_completion_seconds", num: true, cell: (j) => duration(j.avg_completion_seconds) },
];

async function reportPage(root, ctx, cid, job) {
  const { signal, session } = ctx;
  const tz = session.timezone;
  const base = `/v1/campaigns/${seg(cid)}`;
  const reportPath = job ? `${base}/jobs/${seg(job)}/report` : `${base}/report`;
  ctx.setTitle(job ? `${cid} · job ${job}` : cid);

  const crumbs = [["Campaigns", "#/campaigns"], [cid, job ? route("campaigns", cid) : null]];
  if (job) crumbs.push([`Job ${job}`, null]);
  const head = h("div", {});
  const figures = h("div", { class: "kpis-slot" }, loading("Loading the report…"));
  const funnelBox = h("div", { class: "funnel-box", id: "funnel" });
  const funnelSlot = h("div", {});
  const nodesSlot = h("div", {});
  const jobsSlot = h("div", {}, job ? null : loading("Loading jobs…"));
  const drawHead = (r) => replace(head, pageHeader({
    crumbs,
    title: job ? h("span", {}, h("span", { class: "muted light" }, "Job "), job) : cid,
    badge: r ? statusBadge(r.status) : null,
    meta: r ? [
      h("span", {}, `First event ${dateTime(r.first_event_at, tz)}`),
      h("span", {}, `Last event ${dateTime(r.last_event_at, tz)}`),
      h("span", { id: "as-of", title: r.as_of }, `Figures as of ${relative(r.as_of)}`),
    ] : null,
  }));
  drawHead(null);
  replace(root, head, figures,
    h("div", { class: "grid-2" },
      card("Funnel", funnelSlot, { subtitle: "Users reaching each step of the script, in flow order; the first step counts the users sent to.", cls: "span-2" }),
      card("Choices by node", nodesSlot, { subtitle: "What users chose at each node they reached.", cls: "span-2" }),
      job ? null : card("Jobs", jobsSlot, { subtitle: "Each run of the campaign; open one for its journeys.", cls: "span-2" })),
    job ? journeysCard(ctx, cid, job) : null);

  let chart = null;
  const newReport = differs();
  const newJobs = differs();
  const apply = (r) => {
    if (!newReport(r)) {
      const asOf = head.querySelector("#as-of");
      if (asOf) asOf.textContent = `Figures as of ${relative(r.as_of)}`;
      return;
    }
    drawHead(r);
    const fresh = kpis(r, tz);
    flashChanges(figures.querySelector("#kpis"), fresh);
    replace(figures, fresh);
    if (r.funnel.length) {
      if (!chart || !funnelSlot.contains(funnelBox)) {
        replace(funnelSlot, funnelBox);
        chart = funnelChart(funnelBox, r.funnel, { signal });
      } else {
        chart.update(r.funnel);
      }
      funnelBox.dataset.steps = String(r.funnel.length);
    } else {
      chart = null;
      replace(funnelSlot, empty("No funnel yet", "The funnel appears once the campaign's script is known.", "overview"));
    }
    replace(nodesSlot, nodesTable(r));
  };

  const loadJobs = async () => {
    if (job) return;
    const j = await get(`${base}/jobs`, {}, { signal });
    if (!newJobs(j.jobs)) return;
    const t = j.jobs.length
      ? table(jobColumns(tz), j.jobs, { rowHref: (x) => route("campaigns", cid, "jobs", x.job_id), rowKey: (x) => x.job_id, cls: "jobs" })
      : empty("No jobs yet", "Jobs appear with their first notification.");
    const tb = t.querySelector("tbody");
    if (tb) flashChanges(jobsSlot.querySelector("tbody"), tb);
    replace(jobsSlot, t);
  };

  const load = async () => {
    const r = await get(reportPath, {}, { signal });
    apply(r);
    await loadJobs();
  };

  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    replace(root, head, errorState(e, () => reportPage(root, ctx, cid, job)));
    return;
  }

  // Jobs follow the report's changes (a change of the campaign is a change
  // of one of its jobs), at most once a second.
  let jobsTimer = 0;
  const jobsSoon = () => {
    if (job || jobsTimer) return;
    jobsTimer = setTimeout(() => { jobsTimer = 0; if (!signal.aborted) loadJobs().catch(() => {}); }, 1000);
  };
  new Live({
    stream: () => ({ path: `${base}/report/stream`, params: { job_id: job } }),
    onEvent: (ev) => {
      if (ev.event !== "report") return;
      apply(ev.data);
      jobsSoon();
    },
    poll: load,
    onStatus: ctx.setLive,
    signal,
  }).start();
}
