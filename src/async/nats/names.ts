/**
 * Stream and consumer names for topics and groups. NATS names may not contain `.`, `*`, `>`, whitespace or
 * path separators, while Courier topics often contain dots (`orders.placed`), so names are the prefix plus
 * the topic with every other character replaced by `_`, plus a short hash of the original when anything was
 * replaced (so `a.b` and `a_b` stay distinct). The subject is the topic itself.
 */
import { createHash } from 'node:crypto';

const SAFE = /^[A-Za-z0-9_-]+$/;

export function natsName(prefix: string, name: string): string {
  if (SAFE.test(name)) return prefix + name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${prefix}${name.replace(/[^A-Za-z0-9_-]/g, '_')}_${hash}`;
}

/** A topic must be a literal NATS subject: dot-separated non-empty tokens, no wildcards or whitespace. */
export function checkSubject(topic: string): void {
  if (!/^[^\s*>.]+(\.[^\s*>.]+)*$/.test(topic)) {
    throw new TypeError(`nats broker: topic '${topic}' is not a literal NATS subject (tokens separated by '.', no '*', '>' or whitespace)`);
  }
}
