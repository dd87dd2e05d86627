import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { type InputType, brotliDecompress, gunzip, inflate } from 'node:zlib';
import { MessageTooLargeError } from '../../core/errors.js';
import { BadRequestError, UnsupportedMediaTypeError } from '../errors.js';
import { parseJsonBody } from './safe-json.js';

/**
 * Reading a request body without trusting the sender:
 * - only JSON is read (`application/json` or `application/*+json`, UTF-8): anything else is 415 before a byte
 *   is read; so is a content coding other than gzip, deflate, br or identity;
 * - a `Content-Length` over `maxBodyBytes` is 413 before a byte is read; a body without one (chunked) is
 *   counted as it arrives and refused with 413 the moment it passes the limit;
 * - a compressed body is decompressed with a cap on the output (`maxDecodedBytes`): a 1 KB gzip "bomb"
 *   that inflates to 1 GB is 413 after `maxDecodedBytes`, never allocated in full (zlib's `maxOutputLength`,
 *   on the thread pool, so the event loop is not blocked by inflating);
 * - the bytes are then parsed by `parseJsonBody` (UTF-8, depth, forbidden keys).
 *
 * A refused body is not drained: the response to it asks to close the connection (see `server.ts`), so a
 * client cannot make the server read a gigabyte it has already refused.
 */
export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly maxDecodedBytes: number;
  readonly maxJsonDepth: number;
}

type Decoder = (buffer: InputType, options: { maxOutputLength: number }, callback: (error: Error | null, result: Buffer) => void) => void;

const DECODERS: Record<string, Decoder> = { gzip: gunzip, 'x-gzip': gunzip, deflate: inflate, br: brotliDecompress };

export type BodyCallback = (error: Error | null, body?: unknown) => void;

export function readJsonBody(stream: Readable, headers: IncomingHttpHeaders, limits: BodyLimits, done: BodyCallback): void {
  const mediaError = checkContentType(headers['content-type']);
  if (mediaError !== undefined) return done(mediaError);
  const coding = contentCoding(headers['content-encoding']);
  if (coding instanceof Error) return done(coding);
  const declared = headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    if (length > limits.maxBodyBytes) return done(new MessageTooLargeError(length, limits.maxBodyBytes));
  }
  let chunks: Buffer[] | undefined;
  let first: Buffer | undefined;
  let received = 0;
  let finished = false;
  const finish = (error: Error | null, body?: unknown): void => {
    if (finished) return;
    finished = true;
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('error', onError);
    done(error, body);
  };
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > limits.maxBodyBytes) {
      stream.pause();
      return finish(new MessageTooLargeError(received, limits.maxBodyBytes));
    }
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  };
  const onEnd = (): void => {
    const raw = chunks !== undefined ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0));
    if (coding === undefined) return parse(raw, limits, finish);
    coding(raw, { maxOutputLength: limits.maxDecodedBytes }, (error, decoded) => {
      if (error === null) return parse(decoded, limits, finish);
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        return finish(
          new MessageTooLargeError(limits.maxDecodedBytes + 1, limits.maxDecodedBytes, { details: { decoded: true } }),
        );
      }
      finish(new BadRequestError('malformed-body', `request body does not decompress: ${error.message}`));
    });
  };
  const onError = (error: Error): void => finish(error);
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
}

function parse(raw: Buffer, limits: BodyLimits, finish: BodyCallback): void {
  if (raw.length === 0) return finish(null, undefined);
  let value: unknown;
  try {
    value = parseJsonBody(raw, limits.maxJsonDepth);
  } catch (error) {
    return finish(error as Error);
  }
  finish(null, value);
}

/** undefined when the content type is JSON in UTF-8, else the 415 to send. */
export function checkContentType(header: string | undefined): UnsupportedMediaTypeError | undefined {
  if (header === undefined) return new UnsupportedMediaTypeError('a request body needs Content-Type: application/json');
  const semi = header.indexOf(';');
  const type = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (type !== 'application/json' && !(type.startsWith('application/') && type.endsWith('+json'))) {
    return new UnsupportedMediaTypeError(`content type "${type}" is not supported; send application/json`);
  }
  if (semi >= 0) {
    const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(header.slice(semi))?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return new UnsupportedMediaTypeError(`charset "${charset}" is not supported; send UTF-8`);
    }
  }
  return undefined;
}

function contentCoding(header: string | undefined): Decoder | undefined | UnsupportedMediaTypeError {
  if (header === undefined) return undefined;
  const coding = header.trim().toLowerCase();
  if (coding === '' || coding === 'identity') return undefined;
  return DECODERS[coding] ?? new UnsupportedMediaTypeError(`content encoding "${coding}" is not supported`);
}
