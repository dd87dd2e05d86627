/** `courier/inproc`: the in-process transport (same semantics as HTTP, no socket). */
export { InprocTransport, type InprocOptions, inproc } from './inproc.js';
