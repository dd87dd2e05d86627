/**
 * The helpers that generated validation code calls (see `codegen.ts`). They live here, as ordinary reviewed
 * code, so that the generated source stays small and carries no logic worth reading twice.
 *
 * Semantics follow zod where JSON Schema and zod differ, because contracts are written in zod and the
 * compiled path must give zod's verdict: string lengths count code points, `multipleOf` tolerates the
 * rounding error of decimal steps (`0.3` is a multiple of `0.1`).
 */

/** Number of Unicode code points in `s` (a surrogate pair counts once), as JSON Schema and zod count. */
export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * Is `value` a multiple of `step`? Exact for integers; for decimal steps the quotient may miss an integer by a
 * few units in the last place (0.3 / 0.1 = 2.9999999999999996), so a quotient within 4 ulps of an integer counts.
 */
export function isMultipleOf(value: number, step: number): boolean {
  const ratio = value / step;
  const tolerance = 4 * Number.EPSILON * Math.max(Math.abs(ratio), 1);
  return Math.abs(ratio - Math.round(ratio)) < tolerance;
}

/** The type of a value as an error message names it: `string`, `number`, `array`, `null`, `NaN`, `Date`… */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null || proto === Object.prototype) return 'object';
    const name: unknown = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'object';
  }
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  }
  return typeof value;
}

/** A short rendering of a rejected value for a message: numbers and short strings verbatim, else the type. */
export function shown(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return value.length <= 40 ? JSON.stringify(value) : 'a string';
  return typeName(value);
}

/** A finite number verbatim, anything else by its type: `expected integer, got 1.5` / `got string`. */
export function numberOrType(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : typeName(value);
}

/**
 * zod's test for a record: an object that is not an array whose constructor, if it has a callable one, has
 * a prototype owning `isPrototypeOf` (so `{}`, `Object.create(null)` and `{ constructor: "x" }` are plain, a
 * `Date`, a boxed number or a class instance is not).
 */
export function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  if (typeof ctor !== 'function') return true;
  const proto: unknown = (ctor as { prototype?: unknown }).prototype;
  return typeof proto === 'object' && proto !== null && !Array.isArray(proto) && Object.hasOwn(proto, 'isPrototypeOf');
}
