/**
 * Courier messages as Kafka records, following the CloudEvents Kafka binding (binary mode):
 *
 * | Courier                         | Kafka record                                   |
 * |---------------------------------|------------------------------------------------|
 * | `key`                           | the record key (so a key keeps one partition)  |
 * | headers `ce-<attr>`             | headers `ce_<attr>`                            |
 * | header `content-type`           | header `content-type` (as the binding says)    |
 * | other headers                   | headers of the same name                       |
 * | `id`                            | `ce_id` when equal, else header `courier_id`   |
 * | body                            | the record value                               |
 * | sequence / publish time         | the partition offset / the record timestamp    |
 */
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { OutgoingMessage } from '../broker.js';
import { COURIER_PREFIX, renamePrefix } from '../adapter-kit/header-names.js';

export const KAFKA_PREFIX = 'ce_';
export const ID_HEADER = 'courier_id';

export function toKafkaMessage(message: OutgoingMessage): Message {
  const headers: IHeaders = renamePrefix(message.headers ?? {}, COURIER_PREFIX, KAFKA_PREFIX);
  if (headers[`${KAFKA_PREFIX}id`] !== message.id) headers[ID_HEADER] = message.id;
  return {
    key: message.key ?? null,
    value: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
    headers,
  };
}

export interface DecodedRecord {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  readonly publishedAt: number | undefined;
}

export function fromKafkaMessage(record: KafkaMessage, topic: string, partition: number): DecodedRecord {
  const strings: Record<string, string> = {};
  let id: string | undefined;
  for (const [name, raw] of Object.entries(record.headers ?? {})) {
    if (raw === undefined) continue;
    const value = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === 'string' ? v : v.toString('utf8'))).join(',');
    if (name === ID_HEADER) id = value;
    else strings[name] = value;
  }
  const headers = renamePrefix(strings, KAFKA_PREFIX, COURIER_PREFIX);
  const timestamp = Number(record.timestamp);
  return {
    id: id ?? headers[`${COURIER_PREFIX}id`] ?? `${topic}-${partition}-${record.offset}`,
    key: record.key === null ? undefined : record.key.toString('utf8'),
    headers,
    body: record.value ?? new Uint8Array(0),
    publishedAt: Number.isFinite(timestamp) ? timestamp : undefined,
  };
}
