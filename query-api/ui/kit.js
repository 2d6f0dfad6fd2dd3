// The pieces every view is made of: headers, cards, figures, tables that
// become cards on a phone, badges, and the loading, empty and error states.

import { h, icon } from "./dom.js";
import { explain } from "./api.js";
import { statusInfo } from "./format.js";

/** The href of a route: route("campaigns", id, "jobs", job). */
export function route(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

/** A route with a query: withQuery("#/overview", {granularity: "week"}). */
export function withQuery(href, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const t = q.toString();
  return t ? `${href}?${t}` : href;
}

export function pageHeader({ crumbs = [], title, badge = null, meta = null, actions = null }) {
  return h("div", { class: "page-header" },
    crumbs.length ? h("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
      crumbs.map(([text, href], i) => [
        i ? h("span", { class: "crumb-sep", "aria-hidden": "true" }, "/") : null,
        href ? h("a", { href }, text) : h("span", {}, text),
      ])) : null,
    h("div", { class: "title-row" },
      h("h1", { class: "title" }, title, badge),
      actions ? h("div", { class: "actions" }, actions) : null),
    meta ? h("div", { class: "meta" }, meta) : null);
}

export function card(title, body, { subtitle = null, actions = null, cls = "" } = {}) {
  return h("section", { class: ["card", cls] },
    title || actions ? h("header", { class: "card-head" },
      h("div", {}, title ? h("h2", {}, title) : null, subtitle ? h("p", { class: "card-sub" }, subtitle) : null),
      actions ? h("div", { class: "card-actions" }, actions) : null) : null,
    h("div", { class: "card-body" }, body));
}

/** A figure: its label, its value as shown, the raw value (data-value). */
export function kpi(key, label, shown, raw, sub = null, accent = "") {
  return h("div", { class: ["kpi", accent], data: { kpi: key, value: raw === null || raw === undefined ? "" : raw } },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value" }, shown),
    sub ? h("div", { class: "kpi-sub" }, sub) : null);
}

export function statusBadge(status) {
  const [word, mod] = statusInfo(status);
  return h("span", { class: ["badge", `status-${mod}`], data: { status: status || "" } }, h("i", { class: "dot" }), word);
}

export function pill(text, mod = "") {
  return h("span", { class: ["pill", mod] }, text);
}

/**
 * A table; below 720 px wide each row is a card whose cells are labelled.
 * columns: [{label, cell: (row) => node|text, num, cls, key}]
 * rowHref: (row) => href, making the row a link (its first cell holds it).
 */
export function table(columns, rows, { rowHref = null, rowKey = null, cls = "" } = {}) {
  const body = h("tbody", {}, rows.map((r) => tableRow(columns, r, { rowHref, rowKey })));
  return h("div", { class: ["table-wrap", cls] },
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: [c.num && "num", c.cls], scope: "col" }, c.label)))),
      body));
}

export function tableRow(columns, r, { rowHref = null, rowKey = null } = {}) {
  const href = rowHref ? rowHref(r) : null;
  const tr = h("tr", { class: href ? "link-row" : null, data: { key: rowKey ? rowKey(r) : null } },
    columns.map((c, i) => {
      let content = c.cell(r);
      if (i === 0 && href) content = h("a", { href, class: "row-link" }, content);
      return h("td", { class: [c.num && "num", c.cls], "data-label": c.label, data: { field: c.key || null } }, content);
    }));
  if (href) {
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a, button, input, select")) return;
      if (window.getSelection && String(window.getSelection())) return;
      location.hash = href;
    });
  }
  return tr;
}

export function loading(text = "Loading…") {
  return h("div", { class: "state loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

export function empty(title, text = "", art = "campaigns") {
  return h("div", { class: "state empty" },
    h("div", { class: "state-art" }, icon(art)),
    h("h3", {}, title),
    text ? h("p", {}, text) : null);
}

/** An error as people read it, with a retry button. */
export function errorState(err, retry = null) {
  const { title, detail } = explain(err);
  return h("div", { class: "state error", role: "alert", data: { status: err && err.status !== undefined ? err.status : "" } },
    h("div", { class: "state-art" }, icon("alerts")),
    h("h3", {}, title),
    h("p", {}, detail),
    retry ? h("button", { class: "btn", type: "button", on: { click: retry } }, icon("refresh"), "Try again") : null);
}

/** A segmented control; `current` is the active value. */
export function segmented(name, options, current, onPick) {
  return h("div", { class: "segmented", role: "group", "aria-label": name },
    options.map(([value, label]) => h("button", {
      type: "button",
      class: value === current ? "seg active" : "seg",
      "aria-pressed": value === current ? "true" : "false",
      data: { value },
      on: { click: () => onPick(value) },
    }, label)));
}

/** A check of whether data differs from the last data it was given: a
 * view redraws only what changed (a redraw under the pointer loses the
 * hover, and a click on a row being replaced). */
export function differs() {
  let last = null;
  return (data) => {
    const text = JSON.stringify(data);
    if (text === last) return false;
    last = text;
    return true;
  };
}

/** Marks figures and cells whose text changed since the last render (a
 * short flash); cells are matched by their row's key and their field. */
export function flashChanges(oldEl, newEl) {
  if (!oldEl || !newEl) return;
  const id = (c) => {
    const row = c.closest("tr");
    return `${row ? row.dataset.key || "" : ""}/${c.dataset.field || c.dataset.kpi}`;
  };
  const before = new Map();
  for (const c of oldEl.querySelectorAll("[data-field],[data-kpi]")) before.set(id(c), c.textContent);
  for (const c of newEl.querySelectorAll("[data-field],[data-kpi]")) {
    const k = id(c);
    if (before.has(k) && before.get(k) !== c.textContent) c.classList.add("flash");
  }
}
