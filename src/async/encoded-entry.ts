/**
 * A delivery that can hand over its message as the bytes its broker stored, so that a server forwarding
 * it to another process (`remote/server-session.ts`) copies those bytes into the frame instead of decoding
 * the message and encoding it again. The embedded broker's deliveries of messages read back from its log do
 * (the entry layout is `embedded/batch-codec.ts`'s); any other delivery is forwarded field by field.
 *
 * Internal: a symbol-keyed method, so it is no part of the `Delivery` contract users implement or call.
 */
import type { Delivery } from './broker.js';

export const ENCODED_ENTRY: unique symbol = Symbol('courier.encodedEntry');

/** A message's stored entry: `bytes[start, end)`, from its flags byte to the end of its body (`batch-codec.ts`). */
export interface StoredEntry {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly seq: number;
  readonly publishedAt: number;
}

export interface CarriesEncodedEntry {
  /** The delivery attempt (1 for the first). */
  readonly attempt: number;
  /** The stored entry, or undefined when this message has none (then use `message`). No allocation. */
  [ENCODED_ENTRY](): StoredEntry | undefined;
}

/** The delivery's stored entry and attempt, when it carries one. */
export function carriesEncodedEntry(delivery: Delivery): delivery is Delivery & CarriesEncodedEntry {
  return typeof (delivery as Partial<CarriesEncodedEntry>)[ENCODED_ENTRY] === 'function';
}
