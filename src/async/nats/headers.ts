/**
 * Courier messages as JetStream messages, and back. NATS headers work like HTTP headers, so Courier's
 * headers travel unchanged (the CloudEvents HTTP binding's `ce-` prefix), plus:
 *
 * | Courier   | NATS                                                          |
 * |-----------|---------------------------------------------------------------|
 * | `id`      | `Nats-Msg-Id` (JetStream deduplicates on it)                  |
 * | `key`     | `Courier-Key`                                                 |
 * | topic     | the subject                                                   |
 * | sequence  | the stream sequence; publish time = the stream's timestamp    |
 * | attempt   | the consumer's delivery count                                 |
 *
 * `Nats-*` headers are JetStream's own and are not passed to Courier.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { OutgoingMessage } from '../broker.js';
import { setOwn } from '../../core/own-record.js';

export const MSG_ID_HEADER = 'Nats-Msg-Id';
export const KEY_HEADER = 'Courier-Key';

export function toNatsHeaders(message: OutgoingMessage): MsgHdrs {
  const h = natsHeaders();
  const source = message.headers ?? {};
  for (const name of Object.keys(source)) h.set(name, source[name]!);
  h.set(MSG_ID_HEADER, message.id);
  if (message.key !== undefined) h.set(KEY_HEADER, message.key);
  return h;
}

export interface DecodedHeaders {
  readonly id: string | undefined;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
}

export function fromNatsHeaders(h: MsgHdrs | undefined): DecodedHeaders {
  const headers: Record<string, string> = {};
  let id: string | undefined;
  let key: string | undefined;
  if (h !== undefined) {
    for (const name of h.keys()) {
      const value = h.get(name);
      if (name === MSG_ID_HEADER) id = value;
      else if (name === KEY_HEADER) key = value;
      else if (!name.toLowerCase().startsWith('nats-')) setOwn(headers, name, value);
    }
  }
  return { id: id ?? headers['ce-id'], key, headers };
}
