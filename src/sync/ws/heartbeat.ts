import type { WebSocket } from 'ws';

/**
 * Liveness of one socket, by WebSocket ping/pong (RFC 6455 §5.5.2–3), the same on both ends.
 *
 * Contract: the owner calls `beat()` once per heartbeat interval. If nothing arrived from the peer since
 * the previous beat (no pong, no message), the peer is dead: `beat` destroys the socket (`terminate`: a
 * dead peer cannot complete a closing handshake) and returns false. Otherwise it sends a ping and returns
 * true. A peer that stops answering is therefore detected, and its socket closed, within two intervals of
 * its last sign of life. Every compliant WebSocket endpoint answers pings by itself (`ws` does unless
 * created with `autoPong: false`), so this needs nothing from the peer's application code.
 *
 * Why not a timer per socket: the server beats all its connections from one sweep timer; the client has
 * one socket and one timer.
 */
export class Liveness {
  private heard = true;

  constructor(private readonly ws: WebSocket) {
    const alive = (): void => {
      this.heard = true;
    };
    ws.on('pong', alive);
    ws.on('message', alive);
  }

  /** Note that the peer spoke (for callers that see messages before this listener does). */
  touch(): void {
    this.heard = true;
  }

  beat(): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return true;
    if (!this.heard) {
      this.ws.terminate();
      return false;
    }
    this.heard = false;
    this.ws.ping();
    return true;
  }
}
