/**
 * The encoding of a group's `unsettled` column: the messages below the group's cursor that the group has
 * not acked yet (its in-memory window), each with how many times it was delivered. Stored as one small BLOB
 * per group and rewritten with each commit that touched the group, which makes an ack cost nothing on disk
 * beyond that rewrite (no row per ack, no delete per ack).
 *
 * Layout (unsigned LEB128 varints), run-length encoded: a `0` byte, the number of runs, then per run
 * `cursor - first` (≥ 1), its length (≥ 1) and the delivery count its messages share. A run is consecutive
 * sequences with one delivery count, in window order. A window is mostly a few such runs (what is in flight,
 * what is taken but not delivered yet, with holes where acks came out of order), so its blob stays a few
 * bytes whatever the window's size and fits in the group's row: written per entry, a window of 4096
 * messages took ~12 KB, three overflow pages rewritten by every commit that settled anything.
 *
 * The earlier layout (`count`, then per entry `cursor - seq` and `deliveries`) is still read: its first
 * byte is 0 only when it lists nothing, and then it is that one byte.
 */

export interface UnsettledEntry {
  readonly seq: number;
  readonly deliveries: number;
}

const RUNS = 0;

/** At most `count` runs of three varints, each at most 8 bytes for a safe integer. */
const RUN_BYTES = 24;
/**
 * Runs are encoded here first, then copied out at their exact size (usually a few bytes). Sized for the
 * default window (4096); a larger window encodes into a buffer of its own, not kept.
 */
const scratch = Buffer.allocUnsafeSlow(4096 * RUN_BYTES);

export function encodeUnsettled(cursor: number, entries: Iterable<UnsettledEntry>, count: number): Buffer {
  if (count === 0) return Buffer.alloc(0);
  const runsOut = count * RUN_BYTES <= scratch.byteLength ? scratch : Buffer.allocUnsafe(count * RUN_BYTES);
  let o = 0;
  let runs = 0;
  let written = 0;
  let first = 0;
  let length = 0;
  let deliveries = 0;
  for (const e of entries) {
    written++;
    if (length > 0 && e.seq === first + length && e.deliveries === deliveries) {
      length++;
      continue;
    }
    if (length > 0) {
      o = writeRun(runsOut, o, cursor, first, length, deliveries);
      runs++;
    }
    first = e.seq;
    length = 1;
    deliveries = e.deliveries;
  }
  if (written !== count) throw new Error(`encodeUnsettled: expected ${count} entries, got ${written}`);
  o = writeRun(runsOut, o, cursor, first, length, deliveries);
  runs++;
  const head = Buffer.allocUnsafe(9);
  head[0] = RUNS;
  const headLength = writeVarint(head, 1, runs);
  const out = Buffer.allocUnsafe(headLength + o);
  head.copy(out, 0, 0, headLength);
  runsOut.copy(out, headLength, 0, o);
  return out;
}

function writeRun(out: Buffer, o: number, cursor: number, first: number, length: number, deliveries: number): number {
  o = writeVarint(out, o, cursor - first);
  o = writeVarint(out, o, length);
  return writeVarint(out, o, deliveries);
}

export function decodeUnsettled(cursor: number, data: Uint8Array | null | undefined): UnsettledEntry[] {
  if (!data || data.byteLength === 0) return [];
  const pos = { o: 0 };
  const entries: UnsettledEntry[] = [];
  if (data[0] === RUNS && data.byteLength > 1) {
    pos.o = 1;
    const runs = readVarint(data, pos);
    for (let r = 0; r < runs; r++) {
      const first = cursor - readVarint(data, pos);
      const length = readVarint(data, pos);
      const deliveries = readVarint(data, pos);
      for (let i = 0; i < length; i++) entries.push({ seq: first + i, deliveries });
    }
    return entries;
  }
  const count = readVarint(data, pos);
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
