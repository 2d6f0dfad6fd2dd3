// Sign in: an API key, checked against the API before it is kept (in this
// tab's sessionStorage). An admin key reads one tenant at a time: the API
// answers 400 tenant_required without one, and the tenant field appears.

import { h, icon, replace } from "./dom.js";
import { get, saveSession, ApiError, explain } from "./api.js";

export function render(root, { query, signal, notice, session }) {
  const switching = query.get("switch") === "1" && session;
  const next = query.get("next");
  const keyInput = h("input", {
    id: "api-key", name: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
    autocapitalize: "off", required: true, placeholder: "Paste your API key", class: "input",
    value: switching ? session.key : "",
  });
  const tenantInput = h("input", {
    id: "tenant", name: "tenant", type: "text", autocomplete: "off", spellcheck: "false",
    autocapitalize: "off", placeholder: "tenant id, e.g. acme", class: "input",
    value: switching ? session.tenant || "" : "",
  });
  const tenantRow = h("div", { class: "field", id: "tenant-field", hidden: !switching },
    h("label", { for: "tenant" }, "Tenant"),
    tenantInput,
    h("p", { class: "hint" }, "Admin keys read one tenant at a time."));
  const message = h("div", { class: "form-message", id: "signin-message", role: "alert", hidden: true });
  const button = h("button", { class: "btn primary wide", type: "submit", id: "signin-submit" }, "Sign in");
  const reveal = h("button", {
    type: "button", class: "link-btn", "aria-controls": "api-key",
    on: { click: () => { keyInput.type = keyInput.type === "password" ? "text" : "password"; reveal.textContent = keyInput.type === "password" ? "Show" : "Hide"; } },
  }, "Show");

  const say = (kind, text) => {
    message.hidden = !text;
    message.className = `form-message ${kind}`;
    message.textContent = text || "";
  };
  if (notice) say(notice.kind, notice.text);
  if (switching) say("info", "Enter the tenant to read with this admin key.");

  const form = h("form", { class: "signin-form", novalidate: true },
    h("div", { class: "field" },
      h("div", { class: "label-row" }, h("label", { for: "api-key" }, "API key"), switching ? null : reveal),
      keyInput),
    tenantRow,
    message,
    button);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = keyInput.value.trim();
    const tenant = tenantInput.value.trim();
    if (!key) {
      say("error", "Enter an API key.");
      keyInput.focus();
      return;
    }
    if (!tenantRow.hidden && !tenant) {
      say("error", "Enter the tenant to read: this is an admin key.");
      tenantInput.focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Checking…";
    say("", "");
    const candidate = { key, admin: Boolean(tenant), tenant: tenant || null };
    try {
      // The overview names the tenant and its time zone.
      const o = await get("/v1/overview", { granularity: "month" }, { signal, sess: candidate, quiet401: true });
      saveSession({ key, admin: Boolean(tenant), tenant: o.tenant_id, timezone: o.timezone });
      location.hash = next && next.startsWith("#/") && !next.startsWith("#/signin") ? next : "#/campaigns";
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.code === "tenant_required") {
        tenantRow.hidden = false;
        say("info", "This is an admin key: enter the tenant to read.");
        tenantInput.focus();
      } else if (err instanceof ApiError && err.status === 401) {
        say("error", "This API key was not accepted. Check it and try again.");
        keyInput.focus();
        keyInput.select();
      } else if (err instanceof ApiError && err.status === 404 && tenant) {
        say("error", `This key cannot read tenant “${tenant}”.`);
      } else {
        const { title, detail } = explain(err);
        say("error", `${title}. ${detail}`);
      }
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });

  replace(root,
    h("div", { class: "signin" },
      h("div", { class: "signin-card" },
        h("div", { class: "signin-brand" },
          h("img", { src: "assets/favicon.svg", alt: "", width: 40, height: 40 }),
          h("div", {}, h("h1", {}, "Campaign Analytics"), h("p", {}, switching ? "Switch tenant" : "Sign in to your dashboard"))),
        form,
        h("p", { class: "fineprint" }, icon("lock"),
          "The key stays in this browser tab and is sent only to this server, as a Bearer token."),
        switching ? h("p", { class: "fineprint" }, h("a", { href: "#/campaigns" }, "Cancel")) : null)));
  (switching ? tenantInput : keyInput).focus();
}
