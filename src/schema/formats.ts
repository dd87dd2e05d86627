/**
 * String `format`s that Courier asserts itself, for JSON Schemas that name a format without a `pattern`.
 *
 * zod writes its own regular expression beside every format it emits (`format: "uuid", pattern: "^…$"`), and
 * for those the pattern is the check: it is exactly what zod tests. A JSON Schema from elsewhere (a
 * hand-written one, an OpenAPI document) may carry only the format name; these checks give that name meaning.
 * A format not listed here and not backed by a pattern makes the code generator decline the schema, so the
 * caller falls back to a validator that knows it: Courier never silently ignores a format it cannot check.
 */
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Practical address syntax (what mail systems accept in practice, not RFC 5322's quoted forms).
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_ALPHABET = /^[0-9a-fA-F:.]+$/;
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** RFC 3339 full-date, with the real length of each month. */
export function isDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const month = Number(m[2]);
  const day = Number(m[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(Number(m[1]), month);
}

/** RFC 3339 full-time: `hh:mm:ss[.frac]` and a zone (`Z` or `±hh:mm`). */
export function isTime(s: string): boolean {
  return TIME.test(s);
}

/** RFC 3339 date-time: full-date `T` full-time. */
export function isDateTime(s: string): boolean {
  const t = s.indexOf('T') >= 0 ? s.indexOf('T') : s.indexOf('t');
  return t === 10 && isDate(s.slice(0, 10)) && isTime(s.slice(11));
}

/** An IPv6 address as the WHATWG URL parser reads one, after ruling out characters that re-delimit a host. */
export function isIPv6(s: string): boolean {
  return IPV6_ALPHABET.test(s) && URL.canParse(`http://[${s}]`);
}

/** An absolute URI: a scheme and something the URL parser accepts. */
export function isUri(s: string): boolean {
  return URI_SCHEME.test(s) && URL.canParse(s);
}

export const FORMATS: ReadonlyMap<string, (s: string) => boolean> = new Map([
  ['uuid', (s: string) => UUID.test(s)],
  ['email', (s: string) => EMAIL.test(s)],
  ['date', isDate],
  ['time', isTime],
  ['date-time', isDateTime],
  ['ipv4', (s: string) => IPV4.test(s)],
  ['ipv6', isIPv6],
  ['uri', isUri],
]);
