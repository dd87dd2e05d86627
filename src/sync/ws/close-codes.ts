/**
 * WebSocket close codes Courier uses (RFC 6455 §7.4.1), and who sends which.
 *
 * The `ws` library sends these itself, before Courier sees a message:
 * - 1002 protocol error: a frame that breaks RFC 6455 (reserved opcode, RSV bits without an extension,
 *   an unmasked client frame, a fragmented control frame);
 * - 1007 invalid payload: a text frame whose bytes are not valid UTF-8;
 * - 1009 message too big: a message larger than the endpoint's `maxPayload`.
 * Courier sends:
 * - 1003 unsupported data: a binary message (the protocol is JSON text frames only);
 * - 1008 policy violation: a text message that is not a Courier frame (not JSON, not an object, an unknown
 *   frame type `t`, a field of the wrong type, a call id already in flight, too many subscriptions);
 * - 1001 going away: the server (or client) is shutting down;
 * - 1000 normal: a client's own `close()`.
 * A peer whose heartbeat stops is not closed with a code: its socket is destroyed (`terminate`), since a
 * dead peer would never complete a closing handshake; the other side observes 1006.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const;
