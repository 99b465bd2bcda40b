import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { FerryError } from '../../protocol/errors.js';
import { assertJobFits, MAX_JOB_BYTES, MAX_MESSAGE_BYTES } from '../../protocol/job-size.js';
import type { InstallWanted } from '../../protocol/deployment-api.js';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import type { Store } from '../../store/store.js';
import type { AgentConnectionCredential, ServerTransport, TransportLogger } from '../transport.js';
import { unhandledJobEvent } from '../unhandled-job.js';
import {
  AGENT_SOCKET_PATH,
  type Frame,
  idOf,
  parseFrame,
  PING_INTERVAL_HEADER,
  QUESTIONS_HEADER,
} from './frames.js';

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
  private wantedHandler:
    ((hostId: string, installId: string) => Promise<InstallWanted>) | undefined;
  private readonly pinger: NodeJS.Timeout;
  private readonly alive = new WeakSet<WebSocket>();
  /** The credential each connection speaks with now (the one it opened with, or a rotated one). */
  private readonly credentials = new WeakMap<WebSocket, AgentConnectionCredential>();
  /** Connections taking a rotated credential: the old one may stop counting meanwhile. */
  private readonly switching = new WeakSet<WebSocket>();
  private readonly checker: NodeJS.Timeout;
  private checking = false;
  /** Hosts whose outbox is being delivered after they connected: new jobs wait their turn. */
  private readonly syncing = new Set<string>();
  /** Hosts that got a job while their outbox was being delivered: read it once more. */
  private readonly queuedWhileSyncing = new Set<string>();
  /**
   * Agents' events handled at once, across connections: each connection's
   * wait in line of its own, so that a thousand hosts reporting together
   * do not queue a thousand writes on the store's connection ahead of
   * every other request (a `ferry status` asked during a rollout).
   */
  private readonly handling = new Slots(EVENTS_HANDLED_AT_ONCE);
  /** Each connection's frames read and not yet handled (kept until its last one is). */
  private readonly reading = new Set<Reading>();
  /** Outboxes being sent to connections that just opened. */
  private readonly delivering = new Set<Promise<void>>();
  /** Set by `close`: no new connection and no new frame is taken. */
  private stopping = false;
  /** Events being handled, by host and id, across connections (see `handleOnce`). */
  private readonly inFlight = new Map<string, { since: number; done: Promise<void> }>();

  constructor(private readonly options: BuiltinServerTransportOptions) {
    const pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.pinger = setInterval(() => this.ping(), pingIntervalMs);
    this.pinger.unref();
    this.checker = setInterval(() => {
      this.checkCredentials().catch((err: unknown) =>
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

  async send(hostId: string, job: Job): Promise<void> {
    const message = jobSchema.parse(job);
    // A frame over the limit would make the agent drop the connection, get the
    // job again on reconnecting, and drop it again: refused before it is stored.
    assertJobFits(message, `install ${message.id} for host ${hostId}`);
    await this.options.store.outbox.enqueue(hostId, {
      id: message.id,
      body: JSON.stringify(message),
    });
    const socket = this.sockets.get(hostId);
    if (!socket) return;
    if (this.syncing.has(hostId)) this.queuedWhileSyncing.add(hostId);
    else sendFrame(socket, { kind: 'job', message });
  }

  onEvent(handler: (hostId: string, event: AgentEvent) => Promise<void>): void {
    this.eventHandler = handler;
  }

  onWantedQuestion(handler: (hostId: string, installId: string) => Promise<InstallWanted>): void {
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
      ...this.delivering,
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
      { hosts, frames, outboxes: this.delivering.size },
      `stopping with ${frames} agent frame${frames === 1 ? '' : 's'} still being handled after ${ms / 1000} s (hosts: ${hosts.join(', ')}): not acknowledged, the agents send them again`,
    );
  }

  /** Answers a refused upgrade with the error as JSON, then hangs up. */
  private refuseUpgrade(socket: Duplex, error: FerryError): void {
    const body = JSON.stringify(error.toBody());
    const headers = Object.entries(this.options.refusalHeaders ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Refused'}\r\n` +
        `Content-Type: application/json\r\nConnection: close\r\n${headers}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
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

  /**
   * Closes every connection whose credential no longer counts: expired, or
   * revoked on any replica (a host cut off is also closed at once by `disconnect`).
   */
  private async checkCredentials(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const [hostId, ws] of [...this.sockets]) {
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
  private async takeCredential(
    hostId: string,
    ws: WebSocket,
    frame: { id: string; token: string },
  ): Promise<void> {
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
          this.stopping || reading.dropped ? undefined : this.received(hostId, ws, data, handled),
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
    const delivering = this.deliverPending(hostId, ws).catch((err: unknown) =>
      this.options.logger.error({ err, hostId }, 'delivering the outbox failed'),
    );
    this.delivering.add(delivering);
    void delivering.finally(() => this.delivering.delete(delivering));
  }

  /** Sends the outbox in order, including jobs queued while it is being sent. */
  private async deliverPending(hostId: string, ws: WebSocket): Promise<void> {
    this.syncing.add(hostId);
    try {
      // Cut off after it authenticated, before its socket was known here: the
      // cut-off missed it, and nothing may go to it. (One cut off from now on
      // finds its socket, and its outbox is gone.)
      if ((await this.options.store.hosts.get(hostId))?.revokedAt) {
        this.options.logger.warn({ hostId }, 'closing the connection of a host cut off');
        hangUp(ws, 4001, 'the host was cut off');
        return;
      }
      const sent = new Set<string>();
      for (;;) {
        this.queuedWhileSyncing.delete(hostId);
        const fresh = (await this.options.store.outbox.pending(hostId)).filter(
          (m) => !sent.has(m.id),
        );
        if (ws.readyState !== WebSocket.OPEN || this.stopping) return;
        // Checked and ended with no await in between, so no job slips through.
        if (fresh.length === 0 && !this.queuedWhileSyncing.has(hostId)) return;
        for (const pending of fresh) {
          sent.add(pending.id);
          const bytes = Buffer.byteLength(pending.body);
          if (bytes > MAX_JOB_BYTES) await this.undeliverable(hostId, pending.id, bytes);
          else sendFrame(ws, { kind: 'job', message: JSON.parse(pending.body) as unknown });
        }
      }
    } finally {
      if (this.sockets.get(hostId) === ws) this.syncing.delete(hostId);
    }
  }

  /**
   * A job stored before jobs were bounded, too large for a frame: it ends as a
   * failed install and leaves the outbox, so the jobs behind it go out.
   */
  private async undeliverable(hostId: string, id: string, bytes: number): Promise<void> {
    const reason = `it is ${bytes} bytes, more than the ${MAX_JOB_BYTES} a transport message carries`;
    this.options.logger.error({ hostId, id, bytes }, 'dropped a job too large to deliver');
    await this.eventHandler(hostId, unhandledJobEvent(id, reason));
    await this.options.store.outbox.ack(hostId, id);
  }

  /**
   * One frame from an agent. `handled`: the events handled on this connection
   * lately — one the agent sent again because its ack had not reached it yet
   * (it sends every unacknowledged event again every few seconds, and a busy
   * server answers late) is acknowledged again without being handled again:
   * with a thousand agents reporting at once, each step was otherwise recorded
   * two or three times over.
   */
  private async received(
    hostId: string,
    ws: WebSocket,
    data: unknown,
    handled: RecentIds,
  ): Promise<void> {
    const parsed = parseFrame(data);
    if ('error' in parsed) {
      this.options.logger.warn(
        { hostId, error: parsed.error },
        'refused a malformed frame from an agent',
      );
      return;
    }
    const { frame } = parsed;
    if (frame.kind === 'ack') {
      await this.options.store.outbox.ack(hostId, frame.id);
    } else if (frame.kind === 'refused') {
      this.options.logger.error(
        { hostId, id: frame.id, error: frame.error },
        'an agent refused a job',
      );
      await this.options.store.outbox.ack(hostId, frame.id);
    } else if (frame.kind === 'credential') {
      await this.takeCredential(hostId, ws, frame);
    } else if (frame.kind === 'ask-wanted' && this.wantedHandler) {
      await this.answerWanted(hostId, ws, frame, this.wantedHandler);
    } else if (frame.kind === 'event') {
      const event = agentEventSchema.safeParse(frame.message);
      if (!event.success) {
        const error = event.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        this.options.logger.warn({ hostId, error }, 'refused an invalid event from an agent');
        sendFrame(ws, { kind: 'refused', id: idOf(frame.message), error });
        return;
      }
      // Handled and acknowledged here already: its ack was on its way.
      if (handled.has(event.data.id)) {
        sendFrame(ws, { kind: 'ack', id: event.data.id });
        return;
      }
      // Acknowledged only once handled: a failure here leaves the event with the
      // agent, which sends it again. One that had its turn once the server was
      // stopping is left to the agent too.
      const done = await this.handling.run(async () => {
        if (this.stopping) return false;
        await this.bounded(() => this.handleOnce(hostId, event.data));
        return true;
      });
      if (!done) return;
      handled.add(event.data.id);
      sendFrame(ws, { kind: 'ack', id: event.data.id });
    } else {
      this.options.logger.warn(
        { hostId, kind: frame.kind },
        'refused a frame an agent may not send',
      );
    }
  }

  /**
   * The still-wanted question asked on the connection, answered as the HTTP
   * route would: the answer, or the error's code and status (which the agent
   * treats as it would the HTTP answer: a 5xx is asked again). It takes an
   * event's slot: it writes (a "go ahead" starts the install).
   */
  private async answerWanted(
    hostId: string,
    ws: WebSocket,
    frame: { id: string; installId: string },
    handler: (hostId: string, installId: string) => Promise<InstallWanted>,
  ): Promise<void> {
    try {
      // Not answered once the server is stopping: the connection closes, and
      // the agent asks again.
      const answer = await this.handling.run(() =>
        this.stopping
          ? Promise.resolve(undefined)
          : this.bounded(() => handler(hostId, frame.installId)),
      );
      if (answer !== undefined) sendFrame(ws, { kind: 'wanted', id: frame.id, answer });
    } catch (err) {
      // Wedged: its connection is dropped (see `connected`).
      if (err instanceof HandlerOverrun) throw err;
      const error =
        err instanceof FerryError
          ? { code: err.code, status: err.status, message: err.message }
          : { code: 'E_INTERNAL', status: 500, message: 'The server failed to answer' };
      if (!(err instanceof FerryError))
        this.options.logger.error(
          { err, hostId, installId: frame.installId },
          'answering whether an install is still wanted failed',
        );
      sendFrame(ws, { kind: 'wanted', id: frame.id, error });
    }
  }

  /**
   * Handles a host's event, or waits for its handling already under way: an
   * event whose handling ran past `handlerTimeoutMs` went on after its
   * connection was dropped, and the agent sends it again on its next one. Run
   * again beside the first, a slow (not wedged) store would get ever more
   * copies, and none would be acknowledged in time; waited for, the copy
   * under way is acknowledged on the new connection once it ends. One
   * running for five bounds is taken for wedged and handled afresh.
   */
  private handleOnce(hostId: string, event: AgentEvent): Promise<void> {
    const key = `${hostId}\n${event.id}`;
    const running = this.inFlight.get(key);
    // Running for five bounds: wedged, not slow (a lock never given back);
    // handled afresh, as before there was a first.
    const wedgedAfter = 5 * (this.options.handlerTimeoutMs ?? 60_000);
    if (running !== undefined && Date.now() - running.since < wedgedAfter) return running.done;
    const handling = {
      since: Date.now(),
      done: this.eventHandler(hostId, event).finally(() => {
        if (this.inFlight.get(key) === handling) this.inFlight.delete(key);
      }),
    };
    this.inFlight.set(key, handling);
    return handling.done;
  }

  /**
   * Runs a handler, rejecting with `HandlerOverrun` once it has run for
   * `handlerTimeoutMs`: its slot is given back, and its connection dropped.
   * The handler itself cannot be stopped; what it does after is not waited for.
   */
  private async bounded<T>(handler: () => Promise<T>): Promise<T> {
    const ms = this.options.handlerTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new HandlerOverrun(ms)), ms);
      // Not what keeps a stopped server's process alive.
      timer.unref();
    });
    try {
      return await Promise.race([handler(), overrun]);
    } finally {
      clearTimeout(timer);
    }
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

/** A frame's handler ran past `handlerTimeoutMs`. */
class HandlerOverrun extends Error {
  constructor(readonly ms: number) {
    super(`a handler ran for more than ${ms} ms`);
  }
}

/** How many agents' events are handled at once (see `handling`). */
const EVENTS_HANDLED_AT_ONCE = 16;

/** Frames a connection may have read and not yet handled before it is no longer read. */
const READ_AHEAD_FRAMES = 4;

/** At most `size` tasks running at once; the others wait their turn, first come first served. */
class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes to the next in line, or is given back.
      if (next) next();
      else this.running--;
    }
  }
}

/** How many handled event ids a connection remembers (an agent's unacknowledged events are far fewer). */
const HANDLED_IDS_KEPT = 1000;

/** The last `size` ids added, oldest forgotten first. */
class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly size: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.size) this.ids.delete(this.ids.values().next().value!);
  }
}

function sendFrame(ws: WebSocket, frame: Frame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

/**
 * Says goodbye to an agent and hangs up: an agent that does not answer the close
 * at once (busy, or gone without a word) is cut off, since an open upgraded
 * socket keeps the HTTP server, and so the process, from stopping.
 */
function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    hangUp(socket, 1001, 'server stopping');
  });
}

/**
 * Closes a connection, and cuts it off if the agent has not answered the
 * close within a second. One not read (its frames wait for their turn) is
 * read again, or the agent's answering close would wait unread for ws's 30 s;
 * the frames that come meanwhile are not handled (see `connected`).
 */
function hangUp(socket: WebSocket, code: number, reason: string): void {
  if (socket.isPaused) socket.resume();
  const cutOff = setTimeout(() => socket.terminate(), 1000);
  socket.once('close', () => clearTimeout(cutOff));
  socket.close(code, reason);
}
