// Scheduled reports, read only: the definitions with their schedules and
// the latest runs, whose files download through a signed link.

import { h, icon, replace } from "./dom.js";
import { get, seg, explain } from "./api.js";
import { int, dateTime, relative } from "./format.js";
import { Live } from "./live.js";
import { pageHeader, card, table, loading, empty, errorState, pill, differs } from "./kit.js";
import { featureOff, offState } from "./view-alerts.js";

const STATE = { queued: "neutral", running: "info", succeeded: "ok", failed: "error", cancelled: "neutral" };
const KIND = { campaign_reports: "Campaign reports", journeys: "Journeys", overview: "Overview" };

function download(run, file, button) {
  return async () => {
    button.disabled = true;
    try {
      const link = await get(`/v1/report-runs/${seg(run.id)}/download`, { format: file.format });
      location.assign(link.download_url);
    } catch (e) {
      const { title, detail } = explain(e);
      button.title = `${title}: ${detail}`;
      button.classList.add("failed");
    } finally {
      button.disabled = false;
    }
  };
}

export async function render(root, ctx) {
  const { signal, session } = ctx;
  const tz = session.timezone;
  ctx.setTitle("Reports");
  const defsSlot = h("div", {}, loading("Loading reports…"));
  const runsSlot = h("div", {});
  const runsCard = card("Latest runs", runsSlot, { subtitle: "Newest first; files are kept for the retention period.", cls: "flush" });
  const defsCard = card("Definitions", defsSlot, { subtitle: "What is generated, and when.", cls: "flush" });
  replace(root, pageHeader({ title: "Scheduled reports", meta: [h("span", {}, "Reports generated on a schedule or on demand, delivered by e-mail or webhook.")] }), defsCard, runsCard);

  const defColumns = [
    { label: "Report", key: "name", cls: "primary wide", cell: (d) => h("span", { class: "id-cell" }, h("span", { class: "id" }, d.name), d.description ? h("span", { class: "muted small" }, d.description) : null) },
    { label: "Kind", key: "kind", cell: (d) => KIND[d.kind] || d.kind },
    { label: "Formats", key: "formats", cell: (d) => h("span", { class: "pills" }, d.formats.map((f) => pill(f.toUpperCase(), "neutral"))) },
    {
      label: "Schedule", key: "schedule",
      cell: (d) => (d.schedule
        ? h("span", { class: "id-cell" }, h("span", {}, d.schedule.description, d.schedule.enabled ? null : pill("Paused", "warn")),
          d.schedule.next_run_at ? h("span", { class: "muted small" }, `Next ${dateTime(d.schedule.next_run_at, tz)}`) : null)
        : h("span", { class: "muted" }, "On demand")),
    },
    { label: "Updated", key: "updated_at", cell: (d) => h("span", { title: dateTime(d.updated_at, tz) }, relative(d.updated_at)) },
  ];
  const runColumns = [
    { label: "Report", key: "definition", cls: "primary", cell: (r) => h("span", { class: "id-cell" }, h("span", { class: "id" }, (r.definition && r.definition.name) || r.definition_id), h("span", { class: "muted small" }, `${r.trigger}${r.scheduled_for ? ` · for ${dateTime(r.scheduled_for, tz)}` : ""}`)) },
    { label: "State", key: "state", cell: (r) => h("span", {}, pill(r.state ? r.state[0].toUpperCase() + r.state.slice(1) : "", STATE[r.state] || "neutral"), r.state === "running" ? h("span", { class: "muted small" }, ` ${r.progress}%`) : null, r.error ? h("span", { class: "muted small block" }, r.error) : null) },
    { label: "Created", key: "created_at", cell: (r) => h("span", { title: dateTime(r.created_at, tz) }, relative(r.created_at)) },
    { label: "Rows", key: "rows", num: true, cell: (r) => int(r.rows) },
    {
      label: "Files", key: "files",
      cell: (r) => (r.files.length
        ? h("span", { class: "pills" }, r.files.map((f) => {
          const b = h("button", { class: "btn small", type: "button", title: `${f.file_name} (${int(f.size)} bytes)` }, icon("download"), f.format.toUpperCase());
          b.addEventListener("click", download(r, f, b));
          return b;
        }))
        : h("span", { class: "muted" }, "—")),
    },
  ];

  const newData = differs();
  const load = async () => {
    const [defs, runs] = await Promise.all([
      get("/v1/report-definitions", { limit: 100 }, { signal }),
      get("/v1/report-runs", { limit: 25 }, { signal }),
    ]);
    if (!newData([defs, runs])) return;
    replace(defsSlot, defs.definitions.length
      ? table(defColumns, defs.definitions, { rowKey: (d) => d.id, cls: "definitions" })
      : empty("No reports defined", "Definitions are created through the API (POST /v1/report-definitions).", "reports"));
    replace(runsSlot, runs.runs.length
      ? table(runColumns, runs.runs, { rowKey: (r) => r.id, cls: "runs" })
      : empty("No runs yet", "Runs appear when a schedule comes due or a report is run.", "reports"));
  };
  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    if (featureOff(e)) {
      defsCard.replaceWith(offState("Scheduled reports", e));
      runsCard.hidden = true;
    } else {
      replace(defsSlot, errorState(e, () => render(root, ctx)));
    }
    return;
  }
  new Live({ poll: load, onStatus: ctx.setLive, signal }).start();
}
