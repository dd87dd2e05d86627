/**
 * Courier messages as MQTT 5 PUBLISH packets, following the CloudEvents MQTT binding (binary mode):
 *
 * | Courier                         | MQTT 5                                                          |
 * |---------------------------------|-----------------------------------------------------------------|
 * | headers `ce-<attr>`             | user properties `<attr>` (no prefix, as the binding specifies)   |
 * | `traceparent`, `tracestate`     | user properties of the same name                                |
 * | header `content-type`           | the Content Type property                                        |
 * | other headers `h`               | user property `h`; a name that looks like an attribute (`[a-z0-9]{1,20}`) is sent as `courier-header-h` so that it does not read back as `ce-h` |
 * | `id`                            | the `id` attribute (`ce-id`) when equal, else user property `courier-id` |
 * | `key`                           | user property `courier-key`                                     |
 * | attempt of a redelivered copy   | user property `courier-attempt`                                 |
 * | body                            | the payload                                                     |
 */
import type { IPublishPacket } from 'mqtt';
import { positiveIntHeader } from '../adapter-kit/header-names.js';

type UserProperties = Record<string, string | string[]>;
export type PublishProperties = NonNullable<IPublishPacket['properties']>;

const CE = 'ce-';
const ATTRIBUTE = /^[a-z0-9]{1,20}$/;
const TRACE = new Set(['traceparent', 'tracestate']);
export const ID_PROPERTY = 'courier-id';
export const KEY_PROPERTY = 'courier-key';
export const ATTEMPT_PROPERTY = 'courier-attempt';
const HEADER_ESCAPE = 'courier-header-';

export function toPublishProperties(id: string, key: string | undefined, headers: Readonly<Record<string, string>>): PublishProperties {
  const user: UserProperties = {};
  let contentType: string | undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name]!;
    const lower = name.toLowerCase();
    if (lower === 'content-type') contentType = value;
    else if (lower.startsWith(CE)) user[lower.slice(CE.length)] = value;
    else if (TRACE.has(lower)) user[lower] = value;
    else if (ATTRIBUTE.test(name)) user[HEADER_ESCAPE + name] = value;
    else user[name] = value;
  }
  if (user.id !== id) user[ID_PROPERTY] = id;
  if (key !== undefined) user[KEY_PROPERTY] = key;
  return { userProperties: user, ...(contentType === undefined ? {} : { contentType }) };
}

export interface DecodedPublish {
  readonly id: string | undefined;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  /** `courier-attempt` of a redelivered copy (1 when absent). */
  readonly attempt: number;
}

export function fromPublishProperties(properties: IPublishPacket['properties']): DecodedPublish {
  const headers: Record<string, string> = {};
  let id: string | undefined;
  let key: string | undefined;
  let attempt = 1;
  const user = properties?.userProperties ?? {};
  for (const name of Object.keys(user)) {
    const raw = user[name]!;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (name === ID_PROPERTY) id = value;
    else if (name === KEY_PROPERTY) key = value;
    else if (name === ATTEMPT_PROPERTY) attempt = positiveIntHeader(value) ?? 1;
    else if (name.startsWith(HEADER_ESCAPE)) headers[name.slice(HEADER_ESCAPE.length)] = value;
    else if (TRACE.has(name)) headers[name] = value;
    else if (ATTRIBUTE.test(name)) headers[CE + name] = value;
    else headers[name] = value;
  }
  if (typeof properties?.contentType === 'string') headers['content-type'] = properties.contentType;
  return { id: id ?? headers[`${CE}id`], key, headers, attempt };
}

/** Properties of a redelivery copy: the same, counting `attempt`. */
export function withAttempt(properties: IPublishPacket['properties'], attempt: number): PublishProperties {
  return { ...properties, userProperties: { ...properties?.userProperties, [ATTEMPT_PROPERTY]: String(attempt) } };
}
