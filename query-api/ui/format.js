// Numbers, rates, durations and dates as people read them, in the
// browser's language; dates in the tenant's time zone.

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactFmt = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const pctFmt = new Intl.NumberFormat(undefined, {
  style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1,
});

/** 12,345 */
export function int(n) {
  return n === null || n === undefined ? "—" : intFmt.format(n);
}

const numFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** A measured number: 40.4, 1,234.56 */
export function num(n) {
  return n === null || n === undefined || !Number.isFinite(n) ? "—" : numFmt.format(n);
}

/** 12K (axis ticks). */
export function compact(n) {
  return Math.abs(n) < 10000 ? intFmt.format(n) : compactFmt.format(n);
}

/** A rate given in percent (0 to 100): 45.2% */
export function pct(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? "—" : pctFmt.format(x / 100);
}

/** Seconds as "45 s", "3 min 12 s", "2 h 05 min", "3 d 4 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

function zoned(tz, options) {
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: tz || "UTC" });
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" });
  }
}

/** An instant (RFC 3339) in the tenant's zone: "Sep 3, 2026, 14:05". */
export function dateTime(iso, tz) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return zoned(tz, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

/** With seconds: "14:05:09" (journey steps). */
export function timeOfDay(iso, tz) {
  return zoned(tz, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso));
}

/** "Sep 3, 2026" of an instant in the zone. */
export function day(iso, tz) {
  return zoned(tz, { dateStyle: "medium" }).format(new Date(iso));
}

const rel = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "5 minutes ago", "in 2 days". */
export function relative(iso, now = Date.now()) {
  if (!iso) return "—";
  const diff = (new Date(iso).getTime() - now) / 1000;
  const abs = Math.abs(diff);
  const units = [[60, "second", 1], [3600, "minute", 60], [86400, "hour", 3600],
    [86400 * 30, "day", 86400], [86400 * 365, "month", 86400 * 30], [Infinity, "year", 86400 * 365]];
  for (const [limit, unit, size] of units) {
    if (abs < limit) return rel.format(Math.round(diff / size), unit);
  }
  return iso;
}

/** Recent instants relative ("3 hours ago"), older ones as a date. */
export function when(iso, tz) {
  if (!iso) return "—";
  const age = Date.now() - new Date(iso).getTime();
  return age >= -60000 && age < 7 * 86400000 ? relative(iso) : day(iso, tz);
}

/** A local calendar date "YYYY-MM-DD" (the API's period starts, already in
 * the tenant's calendar) as a label of its period. */
export function periodLabel(date, granularity, long = false) {
  const d = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return date;
  const f = (o) => new Intl.DateTimeFormat(undefined, { ...o, timeZone: "UTC" }).format(d);
  if (granularity === "month") return long ? f({ month: "long", year: "numeric" }) : f({ month: "short", year: "2-digit" });
  if (granularity === "week") return long ? `Week of ${f({ weekday: "short", month: "short", day: "numeric", year: "numeric" })}` : f({ month: "short", day: "numeric" });
  return long ? f({ weekday: "short", month: "short", day: "numeric", year: "numeric" }) : f({ month: "short", day: "numeric" });
}

/** Today's date ("YYYY-MM-DD") in the zone. */
export function today(tz) {
  const parts = zoned(tz, { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date());
  const get = (t) => parts.find((p) => p.type === t)?.value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** `date` ("YYYY-MM-DD") plus `days` (may be negative). */
export function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** `date` minus `months` calendar months, on the first of the month. */
export function monthsBack(date, months) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() - months);
  return d.toISOString().slice(0, 10);
}

/** The status of a campaign as a word, its CSS modifier. */
export function statusInfo(status) {
  const s = (status || "").toUpperCase();
  const map = {
    NEW: ["New", "new"], PREPARING: ["Preparing", "waiting"], WAITING: ["Waiting", "waiting"],
    RUNNING: ["Running", "running"], COMPLETED: ["Completed", "done"], ERROR: ["Error", "error"],
  };
  return map[s] || ["No status", "none"];
}
