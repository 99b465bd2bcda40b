import type { FerryError } from '../protocol/errors.js';
import type { InstallWanted } from '../protocol/deployment-api.js';
import type { AgentEvent, Job } from '../protocol/messages.js';

/**
 * The seam between the server and its agents, for small messages only (bundles
 * travel over HTTP). Two implementations pass one contract suite: `builtin/`
 * (agents hold a WebSocket to the server, which keeps a durable outbox per host
 * in its store) and, later, `rabbitmq/` (durable per-host queues).
 *
 * Delivery is at least once both ways: a job is acknowledged by the agent only
 * once its journal has recorded it, and an event only once the server's handler
 * has finished; anything unacknowledged is delivered again. Both sides must
 * therefore handle a message id they have seen before.
 */
export interface ServerTransport {
  /**
   * Queues a job for a host. It resolves once the job is durable (stored in the
   * outbox, or confirmed by the broker), whether or not the host is connected;
   * a host that is offline gets it when it comes back.
   */
  send(hostId: string, job: Job): Promise<void>;
  /** Sets the handler of agents' events; an event is acknowledged when it resolves. */
  onEvent(handler: (hostId: string, event: AgentEvent) => Promise<void>): void;
  /**
   * Sets who answers an agent's "is this install still wanted?" asked on its
   * connection (the built-in transport; over another the agent asks over
   * HTTPS). It throws a `FerryError` for the answer an HTTP call would get.
   */
  onWantedQuestion?(handler: (hostId: string, installId: string) => Promise<InstallWanted>): void;
  /** Told when a host connects or goes away. */
  onPresence(handler: (hostId: string, connected: boolean) => void): void;
  /** Hosts with a live connection now. */
  connectedHosts(): string[];
  /**
   * Cuts a host off (its token was revoked, or it was removed): its connection
   * is closed now, and it gets no job from its queue any more.
   */
  disconnect(hostId: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Who an agent's connection speaks for, as the server authenticated it when
 * it opened: the host, and how to ask later whether the credential it was
 * opened with still counts (the connection is closed when it does not).
 */
export interface AgentConnectionCredential {
  hostId: string;
  /** Why the credential no longer counts (expired, revoked), or undefined while it does. */
  problem(): Promise<FerryError | undefined>;
}

/** The agent's side of the transport. */
export interface AgentTransport {
  /**
   * Starts receiving jobs. The handler must record the job (and, for a job seen
   * before, re-report its result) before it resolves; the job is then
   * acknowledged. A handler that rejects leaves the job to be delivered again.
   */
  start(onJob: (job: Job) => Promise<void>): void;
  /** Sends an event; kept and sent again until the server acknowledges it. */
  emit(event: AgentEvent): void;
  /** Resolves once every event emitted so far has been acknowledged. */
  drain(): Promise<void>;
  /** Told when the connection comes up or goes down. */
  onConnection(handler: (connected: boolean) => void): void;
  /**
   * Speaks with a new credential of the host from now on (it was rotated).
   * Resolves once a connection open now carries it too (the server has taken
   * it), or at once when the transport's connection does not use it.
   */
  useCredential?(token: string): Promise<void>;
  /**
   * Asks the server on the open connection whether an install is still
   * wanted: no new HTTPS connection (a TLS handshake each, a thousand at once
   * when a rollout starts). Undefined when it cannot (no connection open now,
   * a server that does not answer there): the agent asks over HTTPS. Rejects
   * with a `WantedRefusal` for the server's error, and with another error when
   * the connection goes or `signal` aborts first.
   */
  askWanted?(installId: string, signal: AbortSignal): Promise<InstallWanted> | undefined;
  close(): Promise<void>;
}

/** The few logging calls a transport makes (Fastify's logger fits). */
export interface TransportLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** The server's error answer to a question asked on the connection (what HTTP would have answered). */
export class WantedRefusal extends Error {
  constructor(
    readonly code: string,
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}
