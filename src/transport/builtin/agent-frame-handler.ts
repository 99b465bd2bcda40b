import type { WebSocket } from 'ws';
import { FerryError } from '../../protocol/errors.js';
import type { InstallWanted } from '../../protocol/deployment-api.js';
import { type AgentEvent, agentEventSchema } from '../../protocol/messages.js';
import type { Store } from '../../store/store.js';
import type { TransportLogger } from '../transport.js';
import { sendFrame } from './agent-socket.js';
import type { ConnectionCredentials } from './connection-credentials.js';
import { idOf, parseFrame } from './frames.js';

/** The still-wanted question's handler (`ServerTransport.onWantedQuestion`). */
export type WantedHandler = (hostId: string, installId: string) => Promise<InstallWanted>;

/** What `AgentFrameHandler` needs of the transport. */
export interface AgentFrameHandlerOptions {
  store: Store;
  logger: TransportLogger;
  /** How long one frame's handler may run (`BuiltinServerTransportOptions.handlerTimeoutMs`). */
  handlerTimeoutMs?: number;
  /** Where a rotated credential sent on a connection is taken. */
  credentials: ConnectionCredentials;
  /** True once the transport stops: a frame whose turn comes after is not handled. */
  stopping: () => boolean;
  /** The transport's event handler, as it is when an event comes. */
  handleEvent: (hostId: string, event: AgentEvent) => Promise<void>;
  /** The still-wanted question's handler, once someone answers it. */
  wantedHandler: () => WantedHandler | undefined;
}

/**
 * What the frames an agent sends on its connection do: acknowledgements clear
 * the outbox, events are handled (a few at once across connections, each in a
 * bounded time, once each) and acknowledged, questions answered. The
 * connection reads and orders its frames (`BuiltinServerTransport.connected`).
 *
 * @example
 *   const handled = new RecentIds(HANDLED_IDS_KEPT); // one per connection
 *   await frames.received(hostId, ws, data, handled);
 */
export class AgentFrameHandler {
  /**
   * Agents' events handled at once, across connections: each connection's
   * wait in line of its own, so that a thousand hosts reporting together
   * do not queue a thousand writes on the store's connection ahead of
   * every other request (a `ferry status` asked during a rollout).
   */
  private readonly handling = new Slots(EVENTS_HANDLED_AT_ONCE);
  /** Events being handled, by host and id, across connections (see `handleOnce`). */
  private readonly inFlight = new Map<string, { since: number; done: Promise<void> }>();

  constructor(private readonly options: AgentFrameHandlerOptions) {}

  /**
   * One frame from an agent. `handled`: the events handled on this connection
   * lately — one the agent sent again because its ack had not reached it yet
   * (it sends every unacknowledged event again every few seconds, and a busy
   * server answers late) is acknowledged again without being handled again:
   * with a thousand agents reporting at once, each step was otherwise recorded
   * two or three times over.
   */
  async received(hostId: string, ws: WebSocket, data: unknown, handled: RecentIds): Promise<void> {
    const parsed = parseFrame(data);
    if ('error' in parsed) {
      this.options.logger.warn(
        { hostId, error: parsed.error },
        'refused a malformed frame from an agent',
      );
      return;
    }
    const { frame } = parsed;
    const wantedHandler = this.options.wantedHandler();
    if (frame.kind === 'ack') {
      await this.options.store.outbox.ack(hostId, frame.id);
    } else if (frame.kind === 'refused') {
      this.options.logger.error(
        { hostId, id: frame.id, error: frame.error },
        'an agent refused a job',
      );
      await this.options.store.outbox.ack(hostId, frame.id);
    } else if (frame.kind === 'credential') {
      await this.options.credentials.take(hostId, ws, frame);
    } else if (frame.kind === 'ask-wanted' && wantedHandler) {
      await this.answerWanted(hostId, ws, frame, wantedHandler);
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
        if (this.options.stopping()) return false;
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
    handler: WantedHandler,
  ): Promise<void> {
    try {
      // Not answered once the server is stopping: the connection closes, and
      // the agent asks again.
      const answer = await this.handling.run(() =>
        this.options.stopping()
          ? Promise.resolve(undefined)
          : this.bounded(() => handler(hostId, frame.installId)),
      );
      if (answer !== undefined) sendFrame(ws, { kind: 'wanted', id: frame.id, answer });
    } catch (err) {
      // Wedged: its connection is dropped (see `BuiltinServerTransport.connected`).
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
      done: this.options.handleEvent(hostId, event).finally(() => {
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
}

/** A frame's handler ran past `handlerTimeoutMs`: its connection is dropped. */
export class HandlerOverrun extends Error {
  constructor(readonly ms: number) {
    super(`a handler ran for more than ${ms} ms`);
  }
}

/** How many agents' events are handled at once (see `handling`). */
const EVENTS_HANDLED_AT_ONCE = 16;

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
export const HANDLED_IDS_KEPT = 1000;

/** The last `size` ids added, oldest forgotten first: a connection's events handled lately. */
export class RecentIds {
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
