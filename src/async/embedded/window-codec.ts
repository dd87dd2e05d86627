/**
 * The encoding of a group's `unsettled` column: the messages below the group's cursor that the group has
 * not acked yet (its in-memory window), each with how many times it was delivered. Stored as one small BLOB
 * per group and rewritten with each commit that touched the group, which makes an ack cost nothing on disk
 * beyond that rewrite (no row per ack, no delete per ack).
 *
 * Layout: unsigned LEB128 varints: `count`, then per entry `cursor - seq` (always ≥ 1) and `deliveries`.
 */

export interface UnsettledEntry {
  readonly seq: number;
  readonly deliveries: number;
}

export function encodeUnsettled(cursor: number, entries: Iterable<UnsettledEntry>, count: number): Buffer {
  // A varint of a safe integer takes at most 8 bytes.
  const out = Buffer.allocUnsafe(8 + count * 16);
  let o = writeVarint(out, 0, count);
  let written = 0;
  for (const e of entries) {
    o = writeVarint(out, o, cursor - e.seq);
    o = writeVarint(out, o, e.deliveries);
    written++;
  }
  if (written !== count) throw new Error(`encodeUnsettled: expected ${count} entries, got ${written}`);
  return out.subarray(0, o);
}

export function decodeUnsettled(cursor: number, data: Uint8Array | null | undefined): UnsettledEntry[] {
  if (!data || data.byteLength === 0) return [];
  const pos = { o: 0 };
  const count = readVarint(data, pos);
  const entries: UnsettledEntry[] = [];
  for (let i = 0; i < count; i++) {
    const back = readVarint(data, pos);
    const deliveries = readVarint(data, pos);
    entries.push({ seq: cursor - back, deliveries });
  }
  return entries;
}

function writeVarint(out: Buffer, o: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[o++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[o++] = v;
  return o;
}

function readVarint(data: Uint8Array, pos: { o: number }): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = data[pos.o++];
    if (byte === undefined) throw new Error('truncated varint in unsettled window');
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
}
