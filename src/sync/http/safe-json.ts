import { isUtf8 } from 'node:buffer';
import { BadRequestError } from '../errors.js';

/**
 * Parse a JSON request body that came from anyone. Refuses, with `BadRequestError` (400) and a `reason`:
 * - bytes that are not valid UTF-8 (`invalid-utf8`): `toString('utf8')` would silently turn them into
 *   U+FFFD, so two different byte strings would parse to one value (and one idempotency fingerprint);
 * - nesting deeper than `maxDepth` (`json-too-deep`): recursive code downstream (validators, handlers,
 *   canonical JSON) would overflow the stack on a 100 000-deep array that costs the sender 200 KB;
 * - keys `__proto__`, `constructor`, `prototype` anywhere (`forbidden-key`): harmless to `JSON.parse`
 *   itself, but a later `Object.assign` or deep merge turns them into prototype pollution;
 * - anything `JSON.parse` rejects (`malformed-json`).
 *
 * Cost: `isUtf8` is native; the depth scan is one pass over the bytes with no allocation; forbidden keys are
 * looked for with native substring searches and the parsed value is walked only when one of the words (or a
 * `\u` escape, which could spell one) appears in the text at all.
 */
export const DEFAULT_MAX_JSON_DEPTH = 64;

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const NEEDLES = ['__proto__', 'constructor', 'prototype', '\\u'].map((s) => Buffer.from(s, 'latin1'));

export function parseJsonBody(body: Buffer, maxDepth: number = DEFAULT_MAX_JSON_DEPTH): unknown {
  if (!isUtf8(body)) throw new BadRequestError('invalid-utf8', 'request body is not valid UTF-8');
  checkDepth(body, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError('malformed-json', `request body is not JSON: ${(error as Error).message}`);
  }
  if (mayHoldForbiddenKey(body)) checkKeys(value);
  return value;
}

/** Throws when brackets nest deeper than `maxDepth` outside strings. */
export function checkDepth(body: Uint8Array, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0, n = body.length; i < n; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        throw new BadRequestError('json-too-deep', `request body nests deeper than ${maxDepth} levels`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
}

function mayHoldForbiddenKey(body: Buffer): boolean {
  for (const needle of NEEDLES) if (body.includes(needle)) return true;
  return false;
}

/** Walk a parsed value (depth already bounded) and refuse any forbidden own key. */
function checkKeys(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) checkKeys(item);
    return;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN.has(key)) throw new BadRequestError('forbidden-key', `key "${key}" is not allowed in a request body`);
    checkKeys((value as Record<string, unknown>)[key]);
  }
}
