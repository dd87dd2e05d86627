/**
 * The first stage of the consumer pipeline: turn a delivery into `{ envelope, payload }` or explain why it
 * cannot be (a "poison" message, which goes straight to the DLQ: retrying cannot fix its bytes).
 *
 * - The envelope is the CloudEvents binary-mode headers (`ce-*`); a missing or invalid one is poison
 *   (`EnvelopeError`). With an event definition, `ce-type` must be that event's type.
 * - The body is JSON when `content-type` is absent (Courier's default), `application/json`, `text/json` or
 *   any `+json` type: it must be valid UTF-8 and valid JSON. Any other content type gives the raw bytes.
 * - With a schema, the payload is validated (compiled; `ValidationError` with the failing path) and the
 *   validator's output (which may be transformed) is what the handler receives.
 */
import { CourierError, EnvelopeError } from '../../core/errors.js';
import { type Envelope, decodeEnvelope } from '../../core/envelope.js';
import type { Schema } from '../../core/contract.js';
import { type Validator, compile } from '../../schema/compile.js';
import type { ReceivedMessage } from '../broker.js';

/** A body that is not what its content type says (invalid UTF-8, invalid JSON). */
export class BodyDecodeError extends CourierError {
  constructor(message: string, cause: unknown) {
    super('INVALID_BODY', message, { cause, retryable: false });
  }
}

export interface Decoded {
  readonly envelope: Envelope;
  readonly payload: unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class MessageDecoder {
  private readonly validator: Validator<unknown> | undefined;

  constructor(
    schema: Schema | undefined,
    /** The only `ce-type` accepted, when the consumer was given an event definition. */
    private readonly expectedType: string | undefined,
  ) {
    this.validator = schema === undefined ? undefined : compile(schema);
  }

  /** Decode and validate. Rejects with `EnvelopeError`, `BodyDecodeError` or `ValidationError`. */
  async decode(message: ReceivedMessage): Promise<Decoded> {
    const envelope = decodeEnvelope(message.headers);
    if (this.expectedType !== undefined && envelope.type !== this.expectedType) {
      throw new EnvelopeError('type', `expected "${this.expectedType}", got "${envelope.type}"`);
    }
    let payload = isJson(envelope.datacontenttype) ? parseJson(message.body) : message.body;
    if (this.validator !== undefined) {
      const what = `${envelope.type} payload`;
      payload = this.validator.compiled
        ? this.validator.validate(payload, what)
        : await this.validator.validateAsync(payload, what);
    }
    return { envelope, payload };
  }
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const semicolon = contentType.indexOf(';');
  const type = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json' || type === 'text/json' || type.endsWith('+json');
}

function parseJson(body: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (error) {
    throw new BodyDecodeError('body is not valid UTF-8', error);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BodyDecodeError(`body is not valid JSON (${(error as Error).message})`, error);
  }
}
