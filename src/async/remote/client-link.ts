/**
 * One connection of a `remoteBroker` client to the server: connect, say HELLO, wait for WELCOME (the served
 * broker's name and feature manifest), then pass every further frame to the client. A `ClientLink` is never
 * reused: after it closes, the client makes a new one.
 */
import { connect } from 'node:net';
import type { BrokerFeatures } from '../broker.js';
import { LOOPBACK, type RemoteAddress } from './address.js';
import type { Cursor } from './frame-decoder.js';
import { FramedSocket } from './framed-socket.js';
import { ProtocolError } from './remote-errors.js';
import { FrameType, fromJson, MIN_PROTOCOL_VERSION, toJson } from './protocol.js';

export interface Welcome {
  /** The version this connection speaks (the lower of the client's and the server's). */
  readonly protocol: number;
  readonly name: string;
  readonly features: BrokerFeatures;
  readonly seek: boolean;
}

export interface LinkHandlers {
  onFrame(link: ClientLink, type: number, cursor: Cursor): void;
  onClose(link: ClientLink, error: Error | undefined): void;
  /** Right before the link writes, to add frames gathered lazily (the client's ACKS frame). */
  beforeFlush(link: ClientLink): void;
}

const HANDSHAKE_TIMEOUT_MS = 5_000;

export class ClientLink {
  private constructor(
    readonly framed: FramedSocket,
    readonly welcome: Welcome,
  ) {}

  get isOpen(): boolean {
    return this.framed.isOpen;
  }

  /**
   * Connect and handshake, offering protocol `protocol` (the server may answer with a lower one). Rejects if
   * the server is not there, does not answer in time, or speaks no version this client does.
   */
  static open(address: RemoteAddress, handlers: LinkHandlers, protocol: number): Promise<ClientLink> {
    return new Promise<ClientLink>((resolve, reject) => {
      const socket = 'socketPath' in address ? connect({ path: address.socketPath }) : connect({ port: address.port, host: LOOPBACK });
      let link: ClientLink | undefined;
      let failed = false;
      const fail = (error: Error): void => {
        if (link !== undefined || failed) return;
        failed = true;
        clearTimeout(timer);
        framed.destroy(error);
        reject(error);
      };
      const timer = setTimeout(() => fail(new ProtocolError('no WELCOME from the broker server')), HANDSHAKE_TIMEOUT_MS);
      timer.unref();
      const framed = new FramedSocket(socket, {
        onFrame: (type, cursor) => {
          if (link !== undefined) {
            handlers.onFrame(link, type, cursor);
            return;
          }
          if (type !== FrameType.WELCOME) throw new ProtocolError(`expected WELCOME, got frame type ${type}`);
          const welcome = fromJson(cursor.str()) as Welcome;
          if (!(welcome.protocol >= MIN_PROTOCOL_VERSION && welcome.protocol <= protocol)) {
            throw new ProtocolError(`server speaks protocol ${welcome.protocol}, this client ${MIN_PROTOCOL_VERSION}–${protocol}`);
          }
          clearTimeout(timer);
          socket.unref(); // from now on the client holds the process alive itself, while it has work
          link = new ClientLink(framed, welcome);
          resolve(link);
        },
        onClose: (error) => {
          if (link === undefined) fail(error ?? new Error('connection closed during the handshake'));
          else handlers.onClose(link, error);
        },
        beforeFlush: () => {
          if (link !== undefined) handlers.beforeFlush(link);
        },
      });
      socket.once('connect', () => {
        framed.out.begin(FrameType.HELLO);
        framed.out.str(toJson({ protocol }));
        framed.out.end();
        framed.flush();
      });
    });
  }

  close(): void {
    this.framed.end();
  }
}
