// A dashboard's form: its name, description and widgets (type, title,
// width and the type's parameters), new (POST) or edited (PUT with
// If-Match of the version read). The server checks it: its 400 message
// names the field, and is shown there; a 412 means someone else saved the
// dashboard meanwhile, and the form reloads their version.

import { h, icon, replace } from "./dom.js";
import { get, send, seg, ApiError, explain } from "./api.js";
import { pageHeader, card, loading, errorState, route } from "./kit.js";
import { featureOff, offState } from "./view-alerts.js";
import { WIDGET_TYPES, METRICS, canEdit, viewerState, widgetTitle } from "./view-dashboards.js";

const GRANULARITIES = [["day", "Days"], ["week", "Weeks"], ["month", "Months"]];
const STATUSES = [
  ["", "Any status"], ["RUNNING", "Running"], ["WAITING", "Waiting"], ["PREPARING", "Preparing"],
  ["NEW", "New"], ["COMPLETED", "Completed"], ["ERROR", "Error"],
];
const ALERT_STATUSES = [["", "Firing or resolved"], ["firing", "Firing"], ["resolved", "Resolved"]];
const SEVERITIES = [["", "Any severity"], ["info", "Info"], ["warning", "Warning"], ["critical", "Critical"]];
const SORTS = [
  ["sent_users", "Sent users"], ["interacted_users", "Interacted users"], ["completed_users", "Completed users"],
  ["target_users", "Target users"], ["total_interactions", "Interactions"], ["messages_sent", "Messages sent"],
  ["interaction_rate", "Interaction rate"], ["completion_rate", "Completion rate"],
  ["last_event_at", "Last event"], ["campaign_id", "Campaign id"],
];
/** The parameters of each type, in the form's order. */
const PARAMS = {
  report_kpis: ["campaign_id", "job_id"],
  funnel: ["campaign_id", "job_id"],
  overview_trend: ["granularity", "periods"],
  campaign_table: ["status", "sort", "limit"],
  live_counter: ["metric", "campaign_id"],
  alerts: ["status", "severity", "campaign_id", "limit"],
};
const DEFAULT_WIDTH = { report_kpis: 6, funnel: 6, overview_trend: 12, campaign_table: 12, live_counter: 3, alerts: 6 };
const NUMBERS = new Set(["periods", "limit"]);

function options(list, current) {
  return list.map(([value, text]) => h("option", { value, selected: value === current }, text));
}

/** A widget of the form from the API's (every field a string). */
function fromApi(w) {
  const p = w.params || {};
  const params = {};
  for (const k of PARAMS[w.type] || []) params[k] = p[k] === null || p[k] === undefined ? "" : String(p[k]);
  return { id: w.id || "", type: w.type, title: w.title || "", width: w.width ? String(w.width) : "", params };
}

function blank(type) {
  const params = {};
  for (const k of PARAMS[type]) params[k] = "";
  if (type === "overview_trend") params.granularity = "day";
  if (type === "live_counter") params.metric = "sent_users";
  if (type === "campaign_table") params.sort = "-sent_users";
  return { id: "", type, title: "", width: "", params };
}

/** The body the API takes: empty fields left out, numbers as numbers
 * (what is not a number is sent as typed, for the server to name). */
function toApi(model) {
  const num = (v) => (/^\d+$/.test(v.trim()) ? Number(v.trim()) : v.trim());
  return {
    name: model.name.trim(),
    description: model.description.trim() || undefined,
    widgets: model.widgets.map((w) => {
      const params = {};
      for (const k of PARAMS[w.type] || []) {
        const v = (w.params[k] || "").trim();
        if (v !== "") params[k] = NUMBERS.has(k) ? num(v) : v;
      }
      const out = { type: w.type, params };
      if (w.id) out.id = w.id;
      if (w.title.trim()) out.title = w.title.trim();
      if (w.width.trim()) out.width = num(w.width);
      return out;
    }),
  };
}

export async function render(root, ctx) {
  const { signal } = ctx;
  const id = ctx.params[0] || null; // null: a new dashboard
  ctx.setTitle(id ? "Edit dashboard" : "New dashboard");
  const crumbs = [["Dashboards", "#/dashboards"]];
  if (id) crumbs.push(["Dashboard", route("dashboards", id)]);
  crumbs.push([id ? "Edit" : "New", null]);
  const head = pageHeader({ crumbs, title: id ? "Edit dashboard" : "New dashboard" });
  replace(root, head, loading(id ? "Loading the dashboard…" : "Loading…"));

  const editable = await canEdit(ctx.session);
  if (signal.aborted) return;
  if (editable === false) {
    replace(root, head, viewerState());
    return;
  }

  let version = null;
  const model = { name: "", description: "", widgets: [blank("report_kpis")] };
  const loadDashboard = async () => {
    const d = await get(`/v1/dashboards/${seg(id)}`, {}, { signal });
    version = d.version;
    model.name = d.name;
    model.description = d.description || "";
    model.widgets = d.widgets.map(fromApi);
    return d;
  };
  let campaigns = [];
  try {
    const [list] = await Promise.all([
      get("/v1/campaigns", { limit: 100 }, { signal }).catch((e) => {
        if (signal.aborted || (e && e.name === "AbortError")) throw e;
        return { campaigns: [] }; // the form works without the suggestions
      }),
      id ? loadDashboard() : null,
    ]);
    campaigns = list.campaigns.map((c) => c.campaign_id);
  } catch (e) {
    if (signal.aborted) return;
    replace(root, head, featureOff(e) ? offState("Saved dashboards", e) : errorState(e, () => render(root, ctx)));
    return;
  }

  const message = h("div", { class: "form-message", id: "dashboard-form-message", role: "alert", hidden: true });
  const say = (kind, text) => {
    message.hidden = !text;
    message.className = `form-message ${kind}`;
    message.textContent = text || "";
  };
  const nameInput = h("input", { class: "input", id: "dashboard-name", name: "name", type: "text", autocomplete: "off", maxlength: 200, required: true, value: model.name, placeholder: "e.g. Spring campaigns" });
  nameInput.addEventListener("input", () => { model.name = nameInput.value; });
  const descInput = h("textarea", { class: "input", id: "dashboard-description", name: "description", rows: 2, maxlength: 2000, placeholder: "What it is for (optional)" });
  descInput.value = model.description;
  descInput.addEventListener("input", () => { model.description = descInput.value; });
  const list = h("div", { class: "widget-editors", id: "widget-editors" });
  const campaignList = h("datalist", { id: "campaign-options" }, campaigns.map((c) => h("option", { value: c })));
  const addType = h("select", { class: "input", id: "add-widget-type", "aria-label": "Type of the new widget" }, options(WIDGET_TYPES, "report_kpis"));
  const addButton = h("button", { class: "btn", type: "button", id: "add-widget" }, icon("plus"), "Add widget");
  const submit = h("button", { class: "btn primary", type: "submit", id: "save-dashboard" }, id ? "Save changes" : "Create dashboard");

  const field = (labelText, control, hint = null) => h("div", { class: "field" },
    h("label", { for: control.id }, labelText), control, hint ? h("p", { class: "hint" }, hint) : null);

  const paramControl = (w, i, key) => {
    const cid = `w${i}-${key}`;
    const value = w.params[key] || "";
    const on = (el) => {
      el.dataset.param = key;
      el.addEventListener(el.tagName === "SELECT" ? "change" : "input", () => { w.params[key] = el.value; });
      return el;
    };
    switch (key) {
      case "campaign_id": {
        const optional = w.type === "live_counter" || w.type === "alerts";
        return field(optional ? "Campaign (optional)" : "Campaign",
          on(h("input", { class: "input", id: cid, type: "text", list: "campaign-options", autocomplete: "off", spellcheck: "false", value, placeholder: optional ? "All campaigns" : "Campaign id" })),
          w.type === "live_counter" ? "Empty: the sum over every campaign." : w.type === "alerts" ? "Empty: the alerts of every campaign." : null);
      }
      case "job_id":
        return field("Job (optional)", on(h("input", { class: "input", id: cid, type: "text", autocomplete: "off", spellcheck: "false", value, placeholder: "All jobs" })));
      case "granularity":
        return field("Periods of", on(h("select", { class: "input", id: cid }, options(GRANULARITIES, value || "day"))));
      case "periods":
        return field("How many periods", on(h("input", { class: "input", id: cid, type: "number", min: 1, max: 731, inputmode: "numeric", value, placeholder: "30 days, 12 weeks or months" })));
      case "status":
        return field("Status", on(h("select", { class: "input", id: cid }, options(w.type === "alerts" ? ALERT_STATUSES : STATUSES, value))));
      case "severity":
        return field("Severity", on(h("select", { class: "input", id: cid }, options(SEVERITIES, value))));
      case "sort": {
        const desc = !value || value.startsWith("-");
        const by = (value || "-sent_users").replace(/^-/, "");
        const bySel = h("select", { class: "input", id: cid, "aria-label": "Sort by" }, options(SORTS, by));
        const dirSel = h("select", { class: "input", id: `${cid}-order`, "aria-label": "Order" }, options([["-", "Largest first"], ["", "Smallest first"]], desc ? "-" : ""));
        const set = () => { w.params.sort = `${dirSel.value}${bySel.value}`; };
        bySel.dataset.param = "sort";
        bySel.addEventListener("change", set);
        dirSel.addEventListener("change", set);
        return h("div", { class: "field" }, h("label", { for: cid }, "Sort by"), h("div", { class: "inline-controls" }, bySel, dirSel));
      }
      case "limit": {
        const alerts = w.type === "alerts";
        return field(alerts ? "Alerts shown" : "Rows", on(h("input", { class: "input", id: cid, type: "number", min: 1, max: alerts ? 50 : 100, inputmode: "numeric", value, placeholder: "10" })));
      }
      case "metric":
        return field("Figure", on(h("select", { class: "input", id: cid }, options(METRICS, value || "sent_users"))));
      default:
        return null;
    }
  };

  const editor = (w, i) => {
    const typeSel = h("select", { class: "input", id: `w${i}-type`, data: { field: "type" } }, options(WIDGET_TYPES, w.type));
    typeSel.addEventListener("change", () => {
      const fresh = blank(typeSel.value);
      // A table's status is a campaign's, an alert widget's an alert's.
      for (const k of PARAMS[fresh.type]) if (w.params[k] && k !== "sort" && !(k === "status" && fresh.type !== w.type)) fresh.params[k] = w.params[k];
      Object.assign(w, { type: fresh.type, params: fresh.params });
      draw();
    });
    const title = h("input", { class: "input", id: `w${i}-title`, type: "text", maxlength: 200, autocomplete: "off", value: w.title, placeholder: widgetTitle(toApi({ name: "", description: "", widgets: [w] }).widgets[0]), data: { field: "title" } });
    title.addEventListener("input", () => { w.title = title.value; });
    const width = h("select", { class: "input", id: `w${i}-width`, data: { field: "width" } },
      options([["", `Default (${DEFAULT_WIDTH[w.type]} of 12)`], ...Array.from({ length: 12 }, (_, n) => [String(n + 1), `${n + 1} of 12${n === 11 ? " (full)" : n === 5 ? " (half)" : ""}`])], w.width));
    width.addEventListener("change", () => { w.width = width.value; });
    const move = (delta) => () => {
      const j = i + delta;
      if (j < 0 || j >= model.widgets.length) return;
      [model.widgets[i], model.widgets[j]] = [model.widgets[j], model.widgets[i]];
      draw();
    };
    return h("fieldset", { class: "widget-editor", data: { index: i, type: w.type } },
      h("legend", {}, `Widget ${i + 1}`),
      h("div", { class: "widget-editor-tools" },
        h("button", { class: "btn small ghost", type: "button", title: "Move up", "aria-label": `Move widget ${i + 1} up`, disabled: i === 0, on: { click: move(-1) } }, icon("up")),
        h("button", { class: "btn small ghost", type: "button", title: "Move down", "aria-label": `Move widget ${i + 1} down`, disabled: i === model.widgets.length - 1, on: { click: move(1) } }, icon("down")),
        h("button", { class: "btn small ghost", type: "button", data: { action: "remove-widget" }, "aria-label": `Remove widget ${i + 1}`, on: { click: () => { model.widgets.splice(i, 1); draw(); } } }, icon("trash"), "Remove")),
      h("div", { class: "field-grid" },
        field("Type", typeSel),
        field("Title (optional)", title),
        field("Width", width),
        PARAMS[w.type].map((k) => paramControl(w, i, k))),
      h("p", { class: "field-error", role: "alert", hidden: true }));
  };

  function draw() {
    replace(list, model.widgets.length
      ? model.widgets.map(editor)
      : h("p", { class: "muted no-widgets" }, "No widgets yet: add one below."));
  }
  addButton.addEventListener("click", () => {
    model.widgets.push(blank(addType.value));
    draw();
    const fields = list.querySelectorAll(".widget-editor");
    const last = fields[fields.length - 1];
    if (last) last.querySelector("select, input").focus();
  });

  /** The server's message at the field it names ("widgets[1].params.campaign_id: ..."). */
  const markError = (text) => {
    for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of root.querySelectorAll(".widget-editor")) {
      el.classList.remove("invalid");
      const p = el.querySelector(".field-error");
      p.hidden = true;
      p.textContent = "";
    }
    const m = /^widgets\[(\d+)\](?:\.params)?(?:\.(\w+))?/.exec(text || "");
    let target = null;
    if (m) {
      const box = list.querySelectorAll(".widget-editor")[Number(m[1])];
      if (box) {
        box.classList.add("invalid");
        const p = box.querySelector(".field-error");
        p.hidden = false;
        p.textContent = text;
        target = (m[2] && (box.querySelector(`[data-param="${m[2]}"]`) || box.querySelector(`[data-field="${m[2]}"]`))) || box.querySelector("select");
      }
    } else if (/^name\b/.test(text || "")) {
      target = nameInput;
    } else if (/^description\b/.test(text || "")) {
      target = descInput;
    }
    if (target) {
      target.setAttribute("aria-invalid", "true");
      target.focus();
    }
  };

  const form = h("form", { class: "dash-form", id: "dashboard-form", novalidate: true },
    card("Dashboard", h("div", { class: "field-grid two" },
      field("Name", nameInput),
      field("Description", descInput))),
    card("Widgets", [
      h("p", { class: "hint" }, "Laid out in this order on a 12-column grid, left to right; on a phone each takes the full width."),
      list,
      h("div", { class: "add-widget" }, addType, addButton),
      campaignList,
    ]),
    h("div", { class: "form-actions" },
      message,
      h("div", { class: "form-buttons" },
        h("a", { class: "btn", href: id ? route("dashboards", id) : "#/dashboards" }, "Cancel"),
        submit)));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say("", "");
    markError("");
    if (!model.name.trim()) {
      say("error", "Give the dashboard a name.");
      markError("name");
      return;
    }
    submit.disabled = true;
    submit.textContent = "Saving…";
    try {
      const body = toApi(model);
      const saved = id
        ? await send("PUT", `/v1/dashboards/${seg(id)}`, body, { signal, headers: { "If-Match": `"${version}"` } })
        : await send("POST", "/v1/dashboards", body, { signal });
      location.hash = route("dashboards", saved.id);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status === 400) {
        say("error", err.message);
        markError(err.message);
      } else if (err instanceof ApiError && err.status === 403) {
        replace(root, head, viewerState());
      } else if (err instanceof ApiError && err.status === 412) {
        const mine = version;
        try {
          await loadDashboard();
          nameInput.value = model.name;
          descInput.value = model.description;
          form.dataset.version = String(version);
          draw();
          say("warn", `Someone else changed this dashboard after you opened it (version ${mine}; it is now at version ${version}). The form now shows their version: make your change again, then save.`);
        } catch (again) {
          if (signal.aborted) return;
          const { title, detail } = explain(again);
          say("error", `Someone else changed this dashboard, and it could not be read again: ${title}. ${detail}`);
        }
      } else {
        const { title, detail } = explain(err);
        say("error", `${title}. ${detail}`);
      }
    } finally {
      submit.disabled = false;
      submit.textContent = id ? "Save changes" : "Create dashboard";
    }
  });

  draw();
  replace(root, head, form);
  if (!id) nameInput.focus();
  if (id) form.dataset.version = String(version);
}
