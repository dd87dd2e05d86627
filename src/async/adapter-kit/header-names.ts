/**
 * Renaming of Courier's CloudEvents header prefix for brokers whose CloudEvents binding uses another one.
 *
 * Courier's consumer pipeline writes and reads the envelope with the default `ce-` prefix (the HTTP
 * binding). On the wire an adapter may use its broker's convention instead: `ce_` for AMQP and Kafka
 * application headers, no prefix for MQTT 5 user properties. `renamePrefix` converts one way and back;
 * headers outside the prefix (traceparent, tracestate, anything foreign) pass unchanged.
 */
import { setOwn } from '../../core/own-record.js';

export const COURIER_PREFIX = 'ce-';

/** Copy `headers`, replacing the leading `from` of every name that has it with `to`. */
export function renamePrefix(headers: Readonly<Record<string, string>>, from: string, to: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name]!;
    if (from !== '' && startsWithIgnoreCase(name, from)) setOwn(out, to + name.slice(from.length), value);
    else setOwn(out, name, value);
  }
  return out;
}

/** ASCII case-insensitive `startsWith` (header names are case-insensitive). */
export function startsWithIgnoreCase(name: string, prefix: string): boolean {
  return name.length >= prefix.length && name.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

/** Read a header case-insensitively. */
export function headerValue(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) return headers[key];
  return undefined;
}

/** A positive integer header (attempt counts), or undefined when absent or malformed. */
export function positiveIntHeader(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}
