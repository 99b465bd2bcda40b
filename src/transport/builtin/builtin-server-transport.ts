import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { FerryError } from '../../protocol/errors.js';
import { MAX_MESSAGE_BYTES } from '../../protocol/job-size.js';
import type { AgentEvent, Job } from '../../protocol/messages.js';
import type { Store } from '../../store/store.js';
import type { AgentConnectionCredential, ServerTransport, TransportLogger } from '../transport.js';
import {
  AgentFrameHandler,
  HANDLED_IDS_KEPT,
  HandlerOverrun,
  RecentIds,
  type WantedHandler,
} from './agent-frame-handler.js';
import { closeSocket, hangUp, refuseUpgrade } from './agent-socket.js';
import { ConnectionCredentials } from './connection-credentials.js';
import { AGENT_SOCKET_PATH, PING_INTERVAL_HEADER, QUESTIONS_HEADER } from './frames.js';
import { OutboxDelivery } from './outbox-delivery.js';

export interface BuiltinServerTransportOptions {
  store: Store;
  /**
   * The host behind an agent's `Authorization` header, and how to check its
   * credential again later; throws a `FerryError` for a bad token.
   */
  authenticate: (authorization: string | undefined) => Promise<AgentConnectionCredential>;
  /**
   * How often each connection's credential is checked again (15 s): one that
   * expired or was revoked (on any replica) is closed.
   */
  credentialCheckMs?: number;
  logger: TransportLogger;
  /** How often a connection is pinged; one that misses a ping is dropped. */
  pingIntervalMs?: number;
  /**
   * Headers every refused upgrade is answered with: the server's own (its
   * security headers), which the transport is handed rather than knowing.
   */
  refusalHeaders?: Readonly<Record<string, string>>;
  /**
   * How long `close` waits for the frames being handled to end (3 s: with
   * the agents' 1 s to answer the close and the store's 2 s for its last
   * query, within the server's 8 s to stop) before it closes the connections
   * anyway, saying in the log what was left.
   */
  stopWaitMs?: number;
  /**
   * How long one frame's handler may run (60 s). Past it the handler is
   * taken for wedged: logged, and its connection dropped, so that the agent
   * connects again and sends what was not acknowledged again (a connection
   * whose frames wait is not read, nor dropped for missing pings).
   */
  handlerTimeoutMs?: number;
}

/**
 * The server's side of the built-in transport: agents hold a WebSocket to
 * `/api/v1/agent/connect`, and each host's jobs wait in a durable outbox in the
 * store until the agent acknowledges them. A host that connects gets everything
 * still in its outbox, in order.
 *
 * @example
 *   const transport = new BuiltinServerTransport({ store, authenticate, logger });
 *   transport.attach(app.server);
 */
export class BuiltinServerTransport implements ServerTransport {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly sockets = new Map<string, WebSocket>();
  private eventHandler: (hostId: string, event: AgentEvent) => Promise<void> = () =>
    Promise.resolve();
  private presenceHandler: (hostId: string, connected: boolean) => void = () => undefined;
  private wantedHandler: WantedHandler | undefined;
  private readonly pinger: NodeJS.Timeout;
  private readonly alive = new WeakSet<WebSocket>();
  /** The credential each connection speaks with, checked again every `credentialCheckMs`. */
  private readonly credentials: ConnectionCredentials;
  private readonly checker: NodeJS.Timeout;
  /** Each host's outbox: jobs stored, and sent to its connection. */
  private readonly outbox: OutboxDelivery;
  /** What each frame an agent sends does. */
  private readonly frames: AgentFrameHandler;
  /** Each connection's frames read and not yet handled (kept until its last one is). */
  private readonly reading = new Set<Reading>();
  /** Set by `close`: no new connection and no new frame is taken. */
  private stopping = false;

  constructor(private readonly options: BuiltinServerTransportOptions) {
    this.credentials = new ConnectionCredentials(options);
    this.outbox = new OutboxDelivery({
      store: options.store,
      logger: options.logger,
      socketOf: (hostId) => this.sockets.get(hostId),
      stopping: () => this.stopping,
      handleEvent: (hostId, event) => this.eventHandler(hostId, event),
    });
    this.frames = new AgentFrameHandler({
      store: options.store,
      logger: options.logger,
      handlerTimeoutMs: options.handlerTimeoutMs,
      credentials: this.credentials,
      stopping: () => this.stopping,
      handleEvent: (hostId, event) => this.eventHandler(hostId, event),
      wantedHandler: () => this.wantedHandler,
    });
    const pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.pinger = setInterval(() => this.ping(), pingIntervalMs);
    this.pinger.unref();
    this.checker = setInterval(() => {
      this.credentials
        .check(this.sockets)
        .catch((err: unknown) =>
          this.options.logger.error({ err }, 'checking agent connections credentials failed'),
        );
    }, options.credentialCheckMs ?? 15_000);
    this.checker.unref();
    // Said at every upgrade once someone answers: the agent then asks on the connection.
    this.wss.on('headers', (headers) => {
      if (this.wantedHandler) headers.push(`${QUESTIONS_HEADER}: 1`);
      // The agent takes a connection silent for several rounds of these for dead.
      headers.push(`${PING_INTERVAL_HEADER}: ${pingIntervalMs}`);
    });
  }

  /** Takes over WebSocket upgrades on `AGENT_SOCKET_PATH` of an HTTP server. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.stopping) {
        this.refuseUpgrade(
          socket,
          new FerryError('E_SERVER_STOPPING', 'The server is stopping: connect again later'),
        );
        return;
      }
      this.upgrade(request, socket, head).catch((err: unknown) => {
        this.options.logger.error({ err }, 'agent connection failed');
        socket.destroy();
      });
    });
  }

  send(hostId: string, job: Job): Promise<void> {
    return this.outbox.send(hostId, job);
  }

  onEvent(handler: (hostId: string, event: AgentEvent) => Promise<void>): void {
    this.eventHandler = handler;
  }

  onWantedQuestion(handler: WantedHandler): void {
    this.wantedHandler = handler;
  }

  onPresence(handler: (hostId: string, connected: boolean) => void): void {
    this.presenceHandler = handler;
  }

  connectedHosts(): string[] {
    return [...this.sockets.keys()];
  }

  disconnect(hostId: string, reason: string): Promise<void> {
    const socket = this.sockets.get(hostId);
    if (socket) {
      this.options.logger.warn({ hostId, reason }, 'closing an agent connection');
      // Its reconnection is refused: its token no longer authenticates.
      // Closing: nothing more is sent on it (frames go only to open sockets).
      hangUp(socket, 4001, reason.slice(0, 120));
    }
    return Promise.resolve();
  }

  /**
   * Stops: takes no new connection and no new frame, lets the frames being
   * handled end (at most `stopWaitMs`, then says in the log what was left:
   * not acknowledged, their agents send them again), then closes the
   * connections. The store is the caller's to close after it.
   */
  async close(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pinger);
    clearInterval(this.checker);
    await this.handlersEnded(this.options.stopWaitMs ?? 3000);
    const closing: Promise<void>[] = [];
    for (const [hostId, socket] of this.sockets) {
      closing.push(closeSocket(socket));
      this.presenceHandler(hostId, false);
    }
    this.sockets.clear();
    await Promise.all(closing);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** Waits for the frames in hand and the outboxes being sent, at most `ms`. */
  private async handlersEnded(ms: number): Promise<void> {
    const ended = Promise.all([
      ...[...this.reading].map((r) => r.handling),
      ...this.outbox.inProgress,
    ]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
    const inTime = await Promise.race([ended, late]);
    clearTimeout(timer);
    if (inTime) return;
    const left = [...this.reading].filter((r) => r.frames > 0);
    const frames = left.reduce((sum, r) => sum + r.frames, 0);
    const hosts = left.map((r) => r.hostId);
    this.options.logger.warn(
      { hosts, frames, outboxes: this.outbox.inProgress.size },
      `stopping with ${frames} agent frame${frames === 1 ? '' : 's'} still being handled after ${ms / 1000} s (hosts: ${hosts.join(', ')}): not acknowledged, the agents send them again`,
    );
  }

  /** Answers a refused upgrade with the error as JSON, then hangs up. */
  private refuseUpgrade(socket: Duplex, error: FerryError): void {
    refuseUpgrade(socket, error, this.options.refusalHeaders ?? {});
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== AGENT_SOCKET_PATH) {
      this.refuseUpgrade(
        socket,
        new FerryError('E_NOT_FOUND', `No WebSocket endpoint at ${url.pathname}`),
      );
      return;
    }
    let credential: AgentConnectionCredential;
    try {
      credential = await this.options.authenticate(request.headers.authorization);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      this.options.logger.warn({ code: err.code }, `agent connection refused: ${err.message}`);
      this.refuseUpgrade(socket, err);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      // Authenticated while the server began to stop: not taken (`close` has
      // let go of the connections it had, and would wait for this one).
      if (this.stopping) {
        ws.terminate();
        return;
      }
      this.credentials.set(ws, credential);
      this.connected(credential.hostId, ws);
    });
  }

  private connected(hostId: string, ws: WebSocket): void {
    const previous = this.sockets.get(hostId);
    if (previous) hangUp(previous, 4000, 'replaced by a newer connection');
    this.sockets.set(hostId, ws);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    // One frame at a time, in order: a step's end must not be recorded before its start.
    const reading: Reading = { hostId, frames: 0, handling: Promise.resolve(), dropped: false };
    this.reading.add(reading);
    const handled = new RecentIds(HANDLED_IDS_KEPT);
    // Frames read and not yet handled. From READ_AHEAD_FRAMES on, the
    // connection is not read until they are all handled: the frames behind
    // them stay in the agent's send queue and the kernel's buffers, not in
    // this heap (a thousand agents reporting at once held 300 MB here waiting
    // for the event slots). What ws had already read (the rest of one chunk)
    // still arrives, and is handled in order. A few are read ahead so that an
    // agent's close (or its next frame) is seen while one frame is handled.
    //
    // A frame that comes once the server is stopping or the connection is
    // closing, or whose turn comes once the server is stopping or the
    // connection was dropped for a wedged handler, is not handled, nor
    // acknowledged: the agent sends it again on its next connection.
    ws.on('message', (data) => {
      if (this.stopping || ws.readyState !== WebSocket.OPEN) return;
      // A frame read shows the agent is there, as a pong does.
      this.alive.add(ws);
      if (++reading.frames >= READ_AHEAD_FRAMES) ws.pause();
      reading.handling = reading.handling
        .then(() =>
          this.stopping || reading.dropped
            ? undefined
            : this.frames.received(hostId, ws, data, handled),
        )
        .catch((err: unknown) => {
          if (!(err instanceof HandlerOverrun)) {
            this.options.logger.error({ err, hostId }, 'handling an agent message failed');
            return;
          }
          // Stopped meanwhile: its connection is closed already, and said so.
          if (this.stopping) return;
          this.options.logger.error(
            { hostId, ms: err.ms },
            `an agent's frame was still being handled after ${err.ms / 1000} s: dropping its connection (the agent connects again and sends what was not acknowledged again)`,
          );
          reading.dropped = true;
          ws.terminate();
        })
        .finally(() => {
          if (--reading.frames === 0 && ws.readyState === WebSocket.CLOSED)
            this.reading.delete(reading);
          if (reading.frames > 0 || !ws.isPaused) return;
          // Its pong may be among what was left unread: a ping round's grace.
          this.alive.add(ws);
          ws.resume();
        });
    });
    ws.on('close', () => {
      if (reading.frames === 0) this.reading.delete(reading);
      if (this.sockets.get(hostId) !== ws) return;
      this.sockets.delete(hostId);
      this.presenceHandler(hostId, false);
    });
    ws.on('error', (err) => this.options.logger.warn({ err, hostId }, 'agent connection error'));
    this.presenceHandler(hostId, true);
    this.outbox.deliver(hostId, ws);
  }

  private ping(): void {
    for (const [hostId, ws] of this.sockets) {
      // Not read while its frames wait for a slot: its pongs wait unread, and
      // count once it is read again (see `connected`).
      if (!this.alive.has(ws) && !ws.isPaused) {
        this.options.logger.warn(
          { hostId },
          'agent stopped answering pings; dropping its connection',
        );
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }
}

/** A connection's frames read and not yet handled, and the end of their handling. */
interface Reading {
  hostId: string;
  /** From READ_AHEAD_FRAMES on, the connection is not read. */
  frames: number;
  handling: Promise<void>;
  /** Dropped for a wedged handler: the frames behind it are left to the agent. */
  dropped: boolean;
}

/** Frames a connection may have read and not yet handled before it is no longer read. */
const READ_AHEAD_FRAMES = 4;
