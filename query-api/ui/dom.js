// Building the DOM node by node (the page's Content-Security-Policy refuses
// HTML parsed from strings): text is always text, never markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function put(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) {
      if (dv !== null && dv !== undefined) el.dataset[dk] = String(dv);
    }
    else if (k === "value" && "value" in el) el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/x", class: "link"}, "text", child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  put(el, attrs);
  return append(el, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  put(el, attrs);
  return append(el, children);
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A small inline icon from a path list (24x24 viewBox, stroked). */
export function icon(name, cls) {
  const paths = ICONS[name] || [];
  return s("svg", { class: ["icon", cls], viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    paths.map((d) => s("path", { d })));
}

const ICONS = {
  campaigns: ["M4 5h16", "M4 12h16", "M4 19h10"],
  overview: ["M4 20V10", "M10 20V4", "M16 20v-7", "M22 20H2"],
  alerts: ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4z", "M10 21h4"],
  reports: ["M7 3h7l5 5v13H7z", "M14 3v5h5", "M10 13h6", "M10 17h6"],
  dashboards: ["M4 4h7v7H4z", "M13 4h7v4h-7z", "M13 10h7v10h-7z", "M4 13h7v7H4z"],
  plus: ["M12 5v14", "M5 12h14"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13 7l4 4"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13"],
  up: ["M6 15l6-6 6 6"],
  down: ["M6 9l6 6 6-6"],
  signout: ["M15 4h4v16h-4", "M10 8l-4 4 4 4", "M6 12h10"],
  back: ["M15 6l-6 6 6 6"],
  next: ["M9 6l6 6-6 6"],
  search: ["M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14", "M16 16l5 5"],
  refresh: ["M20 11a8 8 0 1 0-2.3 5.7", "M20 4v7h-7"],
  flag: ["M5 21V4", "M5 4h11l-2 4 2 4H5"],
  check: ["M5 12l5 5L20 7"],
  user: ["M12 12a4 4 0 1 0 0-8a4 4 0 1 0 0 8", "M4 21a8 8 0 0 1 16 0"],
  download: ["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"],
  lock: ["M6 11h12v10H6z", "M8.5 11V7.5a3.5 3.5 0 0 1 7 0V11"],
};
