import { WebSocket } from 'ws';
import { FerryError } from '../../protocol/errors.js';
import type { AgentConnectionCredential, TransportLogger } from '../transport.js';
import { hangUp, sendFrame } from './agent-socket.js';

/** What `ConnectionCredentials` needs of the transport's options. */
export interface ConnectionCredentialsOptions {
  /** The host behind an `Authorization` header (`BuiltinServerTransportOptions.authenticate`). */
  authenticate: (authorization: string | undefined) => Promise<AgentConnectionCredential>;
  logger: TransportLogger;
}

/**
 * The credential each agent connection speaks with: the one it opened with,
 * or a rotated one it sent since. Checked again now and then, so that a
 * connection whose credential expired or was revoked (on any replica) is
 * closed.
 *
 * @example
 *   credentials.set(ws, credential);
 *   await credentials.check(sockets);
 */
export class ConnectionCredentials {
  /** The credential each connection speaks with now (the one it opened with, or a rotated one). */
  private readonly credentials = new WeakMap<WebSocket, AgentConnectionCredential>();
  /** Connections taking a rotated credential: the old one may stop counting meanwhile. */
  private readonly switching = new WeakSet<WebSocket>();
  private checking = false;

  constructor(private readonly options: ConnectionCredentialsOptions) {}

  /** The connection speaks with `credential`: the one it opened with. */
  set(ws: WebSocket, credential: AgentConnectionCredential): void {
    this.credentials.set(ws, credential);
  }

  /**
   * Closes every connection whose credential no longer counts: expired, or
   * revoked on any replica (a host cut off is also closed at once by `disconnect`).
   */
  async check(sockets: ReadonlyMap<string, WebSocket>): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const [hostId, ws] of [...sockets]) {
        const credential = this.credentials.get(ws);
        const problem = await credential?.problem();
        if (problem === undefined || ws.readyState !== WebSocket.OPEN) continue;
        // Taking a new credential, or took it while this one was checked: taking
        // the new one is what retired the old (its first use confirms it).
        if (this.switching.has(ws) || this.credentials.get(ws) !== credential) continue;
        this.options.logger.warn(
          { hostId, code: problem.code },
          `closing an agent connection: ${problem.message}`,
        );
        hangUp(ws, 4001, `${problem.code}: ${problem.message}`.slice(0, 120));
      }
    } finally {
      this.checking = false;
    }
  }

  /**
   * A rotated credential sent on an open connection: it must authenticate as
   * the same host, and the connection speaks with it from now on. Anything else
   * closes the connection.
   */
  async take(hostId: string, ws: WebSocket, frame: { id: string; token: string }): Promise<void> {
    let problem: string;
    this.switching.add(ws);
    try {
      const credential = await this.options.authenticate(`Bearer ${frame.token}`);
      if (credential.hostId === hostId) {
        this.credentials.set(ws, credential);
        sendFrame(ws, { kind: 'ack', id: frame.id });
        return;
      }
      problem = "the credential is another host's";
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      problem = `${err.code}: ${err.message}`;
    } finally {
      this.switching.delete(ws);
    }
    this.options.logger.warn({ hostId, problem }, 'an agent sent a credential that was refused');
    sendFrame(ws, { kind: 'refused', id: frame.id, error: problem });
    hangUp(ws, 4001, problem.slice(0, 120));
  }
}
