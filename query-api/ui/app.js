// The dashboard: the shell (header, navigation, live indicator), the hash
// router and each view's lifetime (its requests, timers and streams end
// when it is left).

import { h, icon, replace } from "./dom.js";
import { session, clearSession } from "./api.js";
import { errorState } from "./kit.js";
import * as signin from "./view-signin.js";
import * as campaigns from "./view-campaigns.js";
import * as campaign from "./view-campaign.js";
import * as journeys from "./view-journeys.js";
import * as overview from "./view-overview.js";
import * as alerts from "./view-alerts.js";
import * as reports from "./view-reports.js";
import * as dashboards from "./view-dashboards.js";
import * as dashboard from "./view-dashboard.js";
import * as dashboardForm from "./view-dashboard-form.js";

const ROUTES = [
  [/^\/campaigns$/, campaigns.render, "campaigns"],
  [/^\/campaigns\/([^/]+)$/, campaign.renderCampaign, "campaigns"],
  [/^\/campaigns\/([^/]+)\/jobs\/([^/]+)$/, campaign.renderJob, "campaigns"],
  [/^\/campaigns\/([^/]+)\/jobs\/([^/]+)\/journeys\/([^/]+)$/, journeys.renderJourney, "campaigns"],
  [/^\/overview$/, overview.render, "overview"],
  [/^\/alerts$/, alerts.render, "alerts"],
  [/^\/reports$/, reports.render, "reports"],
  [/^\/dashboards$/, dashboards.render, "dashboards"],
  [/^\/dashboards\/new$/, dashboardForm.render, "dashboards"],
  [/^\/dashboards\/([^/]+)$/, dashboard.render, "dashboards"],
  [/^\/dashboards\/([^/]+)\/edit$/, dashboardForm.render, "dashboards"],
];

const NAV = [
  ["campaigns", "Campaigns", "#/campaigns"],
  ["overview", "Overview", "#/overview"],
  ["dashboards", "Dashboards", "#/dashboards"],
  ["alerts", "Alerts", "#/alerts"],
  ["reports", "Reports", "#/reports"],
];

const LIVE_TEXT = {
  connecting: ["Connecting…", "", "Opening the live stream"],
  live: ["Live", "", "Figures update as the processor commits them"],
  polling: ["Polling", " · 5 s", "Figures are re-read every 5 seconds"],
  offline: ["Offline", "", "The API does not answer; retrying"],
};

const app = document.getElementById("app");
let current = null; // { controller } of the view on screen
let notice = null; // a message for the sign-in page (e.g. a rejected key)

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/", query: new URLSearchParams(query) };
}

function logo() {
  return h("span", { class: "logo", "aria-hidden": "true" },
    h("img", { src: "assets/favicon.svg", alt: "", width: 26, height: 26 }));
}

function shell(sess, active) {
  const liveEl = h("span", { class: "live", id: "live", hidden: true, role: "status" }, h("i", { class: "dot" }), h("span", { class: "live-text" }), h("span", { class: "live-detail" }));
  const tenant = h("div", { class: "tenant", title: sess.timezone ? `Dates and periods in ${sess.timezone}` : "" },
    icon("user"),
    h("span", { class: "tenant-text" },
      h("span", { class: "tenant-id", id: "tenant-id" }, sess.tenant || "—"),
      h("span", { class: "tenant-tz" }, sess.timezone || "")),
    sess.admin ? h("a", { class: "tenant-switch", href: "#/signin?switch=1" }, "Switch") : null);
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/campaigns" }, logo(), h("span", {}, "Campaign Analytics")),
    h("nav", { class: "nav", "aria-label": "Main" },
      NAV.map(([key, label, href]) => h("a", {
        href, class: key === active ? "nav-link active" : "nav-link", "aria-current": key === active ? "page" : null, data: { nav: key },
      }, icon(key), h("span", {}, label)))),
    h("div", { class: "topbar-end" },
      liveEl,
      tenant,
      h("button", { class: "btn ghost signout", type: "button", id: "signout", title: "Sign out", on: { click: signOut } },
        icon("signout"), h("span", {}, "Sign out"))));
  const main = h("main", { class: "view", id: "view", tabindex: "-1" });
  replace(app, header, main);
  return main;
}

function setLive(status) {
  const el = document.getElementById("live");
  if (!el) return;
  if (!status) {
    el.hidden = true;
    return;
  }
  const [text, detail, title] = LIVE_TEXT[status] || [status, "", ""];
  el.hidden = false;
  el.dataset.status = status;
  el.title = title;
  el.querySelector(".live-text").textContent = text;
  el.querySelector(".live-detail").textContent = detail;
}

function signOut() {
  clearSession();
  notice = { kind: "info", text: "You are signed out." };
  location.hash = "#/signin";
}

window.addEventListener("api-unauthorized", () => {
  if (!session()) return;
  clearSession();
  notice = { kind: "error", text: "Your API key was rejected (401). Sign in again." };
  const back = parseHash();
  location.hash = back.path.startsWith("/signin") ? "#/signin" : `#/signin?next=${encodeURIComponent(location.hash)}`;
});

async function show() {
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = { controller };
  const { path, query } = parseHash();
  const sess = session();

  if (path === "/signin" || !sess) {
    if (path !== "/signin") {
      const next = path === "/" ? "" : `?next=${encodeURIComponent(location.hash)}`;
      history.replaceState(null, "", `#/signin${next}`);
    }
    document.title = "Sign in · Campaign Analytics";
    const msg = notice;
    notice = null;
    signin.render(app, { query: parseHash().query, signal: controller.signal, notice: msg, session: sess });
    return;
  }
  if (path === "/") {
    history.replaceState(null, "", "#/campaigns");
    return show();
  }

  const match = ROUTES.map(([re, view, nav]) => [path.match(re), view, nav]).find(([m]) => m);
  const main = shell(sess, match ? match[2] : null);
  setLive(null);
  if (!match) {
    document.title = "Not found · Campaign Analytics";
    replace(main, h("div", { class: "state empty" }, h("h3", {}, "No such page"), h("p", {}, h("a", { href: "#/campaigns" }, "Go to the campaigns"))));
    return;
  }
  const [m, view] = match;
  const ctx = {
    params: m.slice(1).map((p) => decodeURIComponent(p)),
    query,
    signal: controller.signal,
    session: sess,
    setLive: (status) => { if (!controller.signal.aborted) setLive(status); },
    setTitle: (t) => { document.title = `${t} · Campaign Analytics`; },
  };
  window.scrollTo(0, 0);
  try {
    await view(main, ctx);
  } catch (e) {
    if (controller.signal.aborted || (e && e.name === "AbortError")) return;
    replace(main, errorState(e, () => show()));
  }
}

window.addEventListener("hashchange", show);
show();
