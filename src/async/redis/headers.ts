/**
 * How a Courier message is laid out as the field/value pairs of a Redis stream entry. Redis has no
 * CloudEvents binding, so Courier defines one that a plain Redis client can write and read:
 *
 * | field        | value                                             |
 * |--------------|---------------------------------------------------|
 * | `id`         | message id (CloudEvents `id`)                     |
 * | `key`        | ordering key, when there is one                   |
 * | `h:<name>`   | one per header, e.g. `h:ce-type`, `h:traceparent` |
 * | `body`       | the body bytes (CloudEvents binary mode: the data) |
 *
 * Reading is lenient with foreign producers: an entry without `id` gets its entry id as message id, and
 * fields other than the above are ignored.
 */
import { setOwn } from '../../core/own-record.js';
export const ID_FIELD = 'id';
export const KEY_FIELD = 'key';
export const BODY_FIELD = 'body';
export const HEADER_FIELD_PREFIX = 'h:';

/** XADD arguments (field, value, …) for a message. */
export function toFields(id: string, key: string | undefined, headers: Readonly<Record<string, string>>, body: Uint8Array): Array<string | Buffer> {
  const fields: Array<string | Buffer> = [ID_FIELD, id];
  if (key !== undefined) fields.push(KEY_FIELD, key);
  for (const name of Object.keys(headers)) fields.push(HEADER_FIELD_PREFIX + name, headers[name]!);
  fields.push(BODY_FIELD, Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return fields;
}

export interface EntryContent {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/** Decode an entry's flat field/value list (as Buffers) back into a message. */
export function fromFields(entryId: string, fields: readonly Buffer[]): EntryContent {
  let id: string | undefined;
  let key: string | undefined;
  let body: Uint8Array = EMPTY;
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    // Field names are compared as bytes: only header names are turned into strings.
    switch (fieldKind(name)) {
      case BODY:
        body = value;
        break;
      case ID:
        id = value.toString();
        break;
      case KEY:
        key = value.toString();
        break;
      case HEADER:
        setOwn(headers, name.toString('utf8', HEADER_FIELD_PREFIX.length), value.toString());
        break;
      default:
        break;
    }
  }
  return { id: id ?? entryId, key, headers, body };
}

const EMPTY = new Uint8Array(0);
const OTHER = 0;
const ID = 1;
const KEY = 2;
const BODY = 3;
const HEADER = 4;

function fieldKind(name: Buffer): number {
  const n = name.length;
  const c0 = name[0];
  if (n === 4 && c0 === 0x62 && name[1] === 0x6f && name[2] === 0x64 && name[3] === 0x79) return BODY; // body
  if (n === 2 && c0 === 0x69 && name[1] === 0x64) return ID; // id
  if (n >= 2 && c0 === 0x68 && name[1] === 0x3a) return HEADER; // h:<name>
  if (n === 3 && c0 === 0x6b && name[1] === 0x65 && name[2] === 0x79) return KEY; // key
  return OTHER;
}
