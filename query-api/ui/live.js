// Live updates: a Server-Sent Events stream read with fetch() (EventSource
// cannot send the Authorization header), reconnected with backoff and
// Last-Event-ID; and polling, whenever the stream is not up (not served
// by this server, broken, reconnecting).

import { apiUrl, authHeaders, errorOf, session } from "./api.js";

/** A push parser of the text/event-stream format: feed it text as it
 * arrives; it calls `onEvent({event, data, id})` for each event. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = "";
    this.afterCR = false;
    this.data = [];
    this.event = "";
    this.lastId = "";
    this.retry = null;
  }

  feed(text) {
    let t = text;
    // A CR LF split across two chunks is one line end.
    if (this.afterCR && t.startsWith("\n")) t = t.slice(1);
    this.afterCR = false;
    this.buf += t;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== "\n" && c !== "\r") continue;
      this.line(this.buf.slice(start, i));
      if (c === "\r") {
        if (i + 1 === this.buf.length) this.afterCR = true;
        else if (this.buf[i + 1] === "\n") i++;
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
  }

  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data": this.data.push(value); break;
      case "event": this.event = value; break;
      case "id": if (!value.includes("\0")) this.lastId = value; break;
      case "retry": if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break; // unknown fields are ignored
    }
  }

  dispatch() {
    const data = this.data;
    const event = this.event || "message";
    this.data = [];
    this.event = "";
    if (data.length === 0) return;
    this.onEvent({ event, data: data.join("\n"), id: this.lastId });
  }
}

/** Keeps a view up to date: the stream when the server has it, polling
 * every `interval` ms otherwise. `status` goes through "connecting",
 * "live", "polling" and "offline" (polls fail). */
export class Live {
  /**
   * @param {object} o
   * @param {() => ({path: string, params?: object}) | null} [o.stream] the SSE route
   * @param {(ev: {event: string, data: any, id: string}) => void} [o.onEvent] a parsed event (data is JSON)
   * @param {() => Promise<void>} o.poll re-read the view's data
   * @param {(status: string) => void} [o.onStatus]
   * @param {AbortSignal} o.signal the view's: aborted when it is left
   */
  constructor({ stream = null, onEvent = () => {}, poll, onStatus = () => {}, interval = 5000, signal }) {
    Object.assign(this, { stream, onEvent, poll, onStatus, interval, signal });
    this.lastId = null;
    this.streaming = false;
    this.attempts = 0;
    this.status = "";
    this.timers = new Set();
    signal.addEventListener("abort", () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
    });
  }

  start() {
    this.set(this.stream ? "connecting" : "polling");
    if (this.stream) this.connect();
    this.schedulePoll();
    return this;
  }

  set(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }

  later(ms, fn) {
    if (this.signal.aborted) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.signal.aborted) fn();
    }, ms);
    this.timers.add(t);
  }

  schedulePoll() {
    this.later(this.interval, async () => {
      if (!this.streaming && !document.hidden) {
        try {
          await this.poll();
          if (!this.streaming) this.set("polling");
        } catch (e) {
          if (this.signal.aborted || (e && e.name === "AbortError")) return;
          if (!this.streaming) this.set("offline");
        }
      }
      this.schedulePoll();
    });
  }

  /** One connection of the stream, until it ends; then reconnects. */
  async connect() {
    const target = this.stream();
    if (!target || this.signal.aborted) return;
    const ctrl = new AbortController();
    const stop = () => ctrl.abort();
    this.signal.addEventListener("abort", stop);
    let idle = null;
    const watchdog = () => {
      clearTimeout(idle);
      // Servers send a comment at least every 15 s; silence is a dead link.
      idle = setTimeout(() => ctrl.abort(), 45000);
    };
    let again = true;
    let closedByServer = false;
    try {
      const headers = authHeaders(session(), { Accept: "text/event-stream" });
      if (this.lastId !== null && this.lastId !== "") headers["Last-Event-ID"] = this.lastId;
      watchdog();
      const res = await fetch(apiUrl(target.path, target.params || {}), {
        headers, signal: ctrl.signal, cache: "no-store",
      });
      const type = res.headers.get("content-type") || "";
      if ([404, 405, 501].includes(res.status) || (res.ok && !type.startsWith("text/event-stream"))) {
        // Not served here: poll for as long as the view is open.
        again = false;
        return;
      }
      if (!res.ok || !res.body) {
        const err = await errorOf(res);
        if (err.status === 401) again = false;
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser((ev) => {
        if (ev.id) this.lastId = ev.id;
        if (ev.event === "close") {
          closedByServer = true;
          ctrl.abort();
          return;
        }
        let data = null;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        this.streaming = true;
        this.attempts = 0;
        this.set("live");
        this.onEvent({ event: ev.event, data, id: ev.id });
      });
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watchdog();
        parser.feed(value);
      }
    } catch {
      // aborted, network error or a broken stream: reconnect below
    } finally {
      clearTimeout(idle);
      this.signal.removeEventListener("abort", stop);
      this.streaming = false;
      if (!this.signal.aborted) {
        if (this.status === "live" || this.status === "connecting") this.set("polling");
        if (again) {
          const backoff = closedByServer ? 500 : Math.min(30000, 1000 * 2 ** this.attempts);
          this.attempts = Math.min(this.attempts + 1, 5);
          this.later(backoff + Math.random() * 500, () => this.connect());
        }
      }
    }
  }
}
