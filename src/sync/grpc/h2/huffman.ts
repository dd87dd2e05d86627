import { HpackError } from './hpack-error.js';
import { HUFFMAN_BITS, HUFFMAN_CODES, HUFFMAN_EOS } from './hpack-tables.js';

/**
 * HPACK's Huffman string coding (RFC 7541 §5.2, code of Appendix B). Strings are bytes: a JS string here holds
 * one byte per UTF-16 code unit (latin1), which is how header names and values are carried everywhere in h2.
 *
 * Decoding is table driven, four bits at a time. At module load the code is built into its binary tree; the
 * tree's 256 inner nodes are the states of a machine and, for every state and every nibble, a precomputed
 * transition gives the next state, the symbol completed on the way (at most one: no code is shorter than 5
 * bits), and whether the bits read since the last symbol are a valid end of string. A byte costs two table
 * reads, never a walk bit by bit.
 *
 * Decoding is strict, because lax padding is how two decoders come to disagree about a string: a code for
 * EOS inside the string, padding longer than 7 bits, or padding that is not the leading bits of EOS (all ones)
 * throws `HpackError` (a COMPRESSION_ERROR).
 */

/** Transition entry layout: bits 0-7 next state, 8-15 the symbol emitted, then three flags. */
const EMIT = 1 << 16;
/** The bits consumed since the last symbol are at most 7 ones: the string may end here. */
const ACCEPT = 1 << 17;
/** EOS was decoded (or an impossible path was taken). */
const FAIL = 1 << 18;

const TRANSITIONS = buildTransitions();

function buildTransitions(): Uint32Array {
  // The tree: inner node n has children child[2n] (bit 0) and child[2n + 1] (bit 1). A child is an inner node
  // number (> 0; the root, 0, is nobody's child), a leaf as -(symbol + 1), or 0 where no code goes.
  const child = new Int32Array(512);
  const ones = new Uint8Array(256); // depth of the node if its path is all ones, else 0
  let nodes = 1;
  for (let symbol = 0; symbol <= HUFFMAN_EOS; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    let node = 0;
    for (let bit = HUFFMAN_BITS[symbol]! - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) {
        child[slot] = -(symbol + 1);
      } else {
        if (child[slot] === 0) {
          const inner = nodes++;
          child[slot] = inner;
          if ((code >>> bit) & 1 && (node === 0 || ones[node] !== 0)) ones[inner] = ones[node]! + 1;
        }
        node = child[slot]!;
      }
    }
  }
  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = child[2 * node + ((nibble >>> bit) & 1)]!;
        if (next > 0) {
          node = next;
        } else if (next === 0 || next === -(HUFFMAN_EOS + 1)) {
          entry = FAIL;
          break;
        } else {
          entry = EMIT | ((-next - 1) << 8);
          node = 0;
        }
      }
      if (entry !== FAIL && (node === 0 || (ones[node] !== 0 && ones[node]! <= 7))) entry |= ACCEPT;
      table[state * 16 + nibble] = entry === FAIL ? FAIL : entry | node;
    }
  }
  return table;
}

/** Where decoded bytes are collected before they become a string; grown on demand, shared (decoding is synchronous). */
let scratch = Buffer.allocUnsafe(256);

/** Decode the Huffman-coded string in `src[start, end)` as a latin1 string. Throws `HpackError` if it is invalid. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // Each nibble completes at most one symbol: 2 output bytes per input byte at most (8/5 in fact).
  if (scratch.length < 2 * (end - start)) scratch = Buffer.allocUnsafe(2 * (end - start));
  const out = scratch;
  const table = TRANSITIONS;
  let n = 0;
  let state = 0;
  let accept = ACCEPT;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let entry = table[(state << 4) | (byte >>> 4)]!;
    if (entry & FAIL) throw eosError();
    if (entry & EMIT) out[n++] = entry >>> 8;
    entry = table[((entry & 0xff) << 4) | (byte & 0xf)]!;
    if (entry & FAIL) throw eosError();
    if (entry & EMIT) out[n++] = entry >>> 8;
    state = entry & 0xff;
    accept = entry & ACCEPT;
  }
  if (accept === 0)
    throw new HpackError('Huffman string ends with padding longer than 7 bits or not all ones');
  return out.toString('latin1', 0, n);
}

function eosError(): HpackError {
  return new HpackError('Huffman string contains EOS');
}

/** The Huffman-coded length of latin1 string `s`, in bytes. Throws `TypeError` on a code unit above 0xff. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw notLatin1(s);
    bits += HUFFMAN_BITS[c]!;
  }
  return (bits + 7) >>> 3;
}

/**
 * Write latin1 string `s` Huffman coded into `out` at `offset` (room for `huffmanEncodedLength(s)` bytes is the
 * caller's business) and return the offset after it. The last byte is padded with ones (the start of EOS).
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  let o = offset;
  let acc = 0; // pending bits, right-aligned; fewer than 8 between symbols
  let pending = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw notLatin1(s);
    const code = HUFFMAN_CODES[c]!;
    let bits = HUFFMAN_BITS[c]!;
    // Codes are up to 30 bits and up to 7 bits are pending: feed at most 24 at a time to stay within 31.
    while (bits > 0) {
      const take = bits > 24 ? 24 : bits;
      bits -= take;
      acc = (acc << take) | ((code >>> bits) & ((1 << take) - 1));
      pending += take;
      while (pending >= 8) {
        pending -= 8;
        out[o++] = (acc >>> pending) & 0xff;
      }
      acc &= (1 << pending) - 1;
    }
  }
  if (pending > 0) out[o++] = ((acc << (8 - pending)) | (0xff >>> pending)) & 0xff;
  return o;
}

function notLatin1(s: string): TypeError {
  return new TypeError(`header string has a character above 0xff: ${JSON.stringify(s.slice(0, 64))}`);
}
