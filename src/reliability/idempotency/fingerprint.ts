import { createHash } from 'node:crypto';

/**
 * The fingerprint of a request payload: SHA-256 over its canonical JSON. Two payloads that are equal as JSON
 * values (whatever their key order) have the same fingerprint, so a client that rebuilds its request object
 * for a retry is still recognised as sending "the same request"; any other difference is a different request
 * and reusing the idempotency key for it is refused (422).
 *
 * Canonical JSON here: object keys sorted by UTF-16 code units, `undefined` members dropped (as
 * `JSON.stringify` drops them), `toJSON` honoured, non-finite numbers as `null`: the same value
 * `JSON.stringify` would send, written in one order.
 */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

function write(value: unknown, out: string[]): void {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (value === null || typeof value !== 'object') {
    out.push(JSON.stringify(value) ?? 'null');
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = value[i];
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') out.push('null');
      else write(item, out);
    }
    out.push(']');
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  out.push('{');
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(member, out);
  }
  out.push('}');
}
