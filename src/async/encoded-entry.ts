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

export interface EncodedEntry {
  /** The message's entry, from its flags byte to the end of its body (`batch-codec.ts`). */
  readonly entry: Uint8Array;
  readonly attempt: number;
  readonly sequence: number;
  readonly publishedAt: number;
}

export interface CarriesEncodedEntry {
  /** The stored entry, or undefined when this message has none (then use `message`). */
  [ENCODED_ENTRY](): EncodedEntry | undefined;
}

export function encodedEntryOf(delivery: Delivery): EncodedEntry | undefined {
  const carrier = delivery as Partial<CarriesEncodedEntry>;
  return typeof carrier[ENCODED_ENTRY] === 'function' ? carrier[ENCODED_ENTRY]() : undefined;
}
