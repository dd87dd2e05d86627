/**
 * A header block that HPACK (RFC 7541) cannot decode: a malformed integer or string, a bad Huffman padding or
 * EOS, an index outside the tables, a dynamic table size update that is too large or misplaced.
 *
 * The decoder's dynamic table is then out of step with the peer's encoder, and every later block on the
 * connection would decode wrongly, so the connection must end with a connection error of type
 * COMPRESSION_ERROR (RFC 7540 §4.3). The one exception is `HeaderListTooLargeError`.
 *
 * Its own file so that `huffman.ts` and `hpack.ts` can both throw it without importing each other.
 */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/**
 * The decoded header list is larger than the decoder's `maxHeaderListSize` (name + value + 32 bytes per field,
 * as SETTINGS_MAX_HEADER_LIST_SIZE counts it). Thrown only after the whole block was decoded, so the dynamic
 * table is still in step with the peer: the connection may refuse just this stream, or treat it as any other
 * `HpackError`.
 */
export class HeaderListTooLargeError extends HpackError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`decoded header list is ${size} bytes, more than the limit of ${limit}`);
    this.name = 'HeaderListTooLargeError';
  }
}
