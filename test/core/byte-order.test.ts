import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getU16BE, getU16LE, getU32BE, getU32LE, putU16BE, putU16LE, putU32BE, putU32LE } from '../../src/core/byte-order.js';

describe('byte order', () => {
  it('writes and reads exactly what Buffer does, at any offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 12 }), (value, offset) => {
        const ours = Buffer.alloc(16, 0xee);
        const theirs = Buffer.alloc(16, 0xee);
        putU32LE(ours, offset, value);
        theirs.writeUInt32LE(value, offset);
        expect(ours).toEqual(theirs);
        expect(getU32LE(ours, offset)).toBe(value);
        putU32BE(ours, offset, value);
        theirs.writeUInt32BE(value, offset);
        expect(ours).toEqual(theirs);
        expect(getU32BE(ours, offset)).toBe(value);
        const short = value & 0xffff;
        putU16LE(ours, offset, short);
        theirs.writeUInt16LE(short, offset);
        expect(ours).toEqual(theirs);
        expect(getU16LE(ours, offset)).toBe(short);
        putU16BE(ours, offset, short);
        theirs.writeUInt16BE(short, offset);
        expect(ours).toEqual(theirs);
        expect(getU16BE(ours, offset)).toBe(short);
      }),
      { numRuns: 500 },
    );
  });

  it('reads the top bit as part of an unsigned value, never as a sign', () => {
    const bytes = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect(getU32LE(bytes, 0)).toBe(0xffffffff);
    expect(getU32BE(bytes, 0)).toBe(0xffffffff);
    expect(getU16BE(bytes, 0)).toBe(0xffff);
  });
});
