import { WebSocket } from 'ws';
import { errorFromAnswer } from '../../client/route-client.js';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import { MAX_MESSAGE_BYTES } from '../../protocol/job-size.js';
import type { InstallWanted } from '../../protocol/deployment-api.js';
import { type AgentTransport, type TransportLogger, WantedRefusal } from '../transport.js';
import { dropSupersededHealth } from '../superseded-health.js';
import { JobRetries, unhandledJobEvent } from '../unhandled-job.js';
import {
  AGENT_SOCKET_PATH,
  type Frame,
  idOf,
  parseFrame,
  PING_INTERVAL_HEADER,
  QUESTIONS_HEADER,
  silenceLimitMs,
} from './frames.js';

export interface BuiltinAgentTransportOptions {
  /** The server's URL, such as `http://ferry.internal:7400`. */
  server: string;
  /** The agent's own token (its host credential); `useCredential` changes it. */
  token: string;
  /** TLS options of the connection: the server's pinned CA (`ServerTrust.tlsOptions()`). */
  tls?: { ca?: string };
  logger: TransportLogger;
  /** Reconnection backoff: the first delay, doubled up to `maxDelayMs`, each with jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** How often unacknowledged events are sent again on a live connection. */
  resendIntervalMs?: number;
  /**
   * How long a job whose handler failed waits before it is handled again
   * (doubled at each failure, up to 30 s): it is delivered again at once, not
   * left until the next reconnection.
   */
  retryDelayMs?: number;
  /**
   * How long a job's handler may keep failing before the job is ended as a
   * failed install and acknowledged (15 minutes); a `FinalJobError` ends it at once.
   */
  giveUpAfterMs?: number;
  /**
   * The least silence (ms) after which a connection is taken for dead
   * (`silenceLimitMs`: 90 s); only with a server that says how often it pings.
   */
  silenceFloorMs?: number;
}

/**
 * The agent's side of the built-in transport: one WebSocket to the server, kept
 * up with reconnection (exponential backoff with jitter). Jobs are handled one
 * at a time, in order, and acknowledged once the handler has recorded them.
 * Events wait in memory until the server acknowledges them, and are sent again
 * on every reconnection until it does; of an app's health reports only the
 * latest waits.
 */
export class BuiltinAgentTransport implements AgentTransport {
  private socket: WebSocket | undefined;
  private onJob: ((job: Job) => Promise<void>) | undefined;
  private connectionHandler: (connected: boolean) => void = () => undefined;
  /** Events not yet acknowledged, in the order they were emitted. */
  private readonly unacked = new Map<string, AgentEvent>();
  private drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private jobs: Promise<void> = Promise.resolve();
  /** Jobs waiting their turn or being handled: the same job delivered again meanwhile is not queued twice. */
  private readonly queuedJobs = new Set<string>();
  /** Ends the pause of a job waiting to be handled again (the transport is closing). */
  private wakeRetry: (() => void) | undefined;
  private attempt = 0;
  private readonly retries: JobRetries;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The host credential connections are opened with. */
  private token: string;
  /** Credential frames sent and not yet answered, by id: told when answered or the connection goes. */
  private readonly credentialWaiters = new Map<string, () => void>();
  /** Connections whose server said at the upgrade that it answers `ask-wanted` frames. */
  private readonly answering = new WeakSet<WebSocket>();
  /** Questions asked and not yet answered, by frame id: failed when their connection goes. */
  private readonly questions = new Map<
    string,
    { socket: WebSocket; resolve: (answer: InstallWanted) => void; reject: (err: Error) => void }
  >();
  private questionsAsked = 0;
  /** Sends unacknowledged events again now and then: a handler that failed on the server does not ack. */
  private readonly resender: NodeJS.Timeout;

  constructor(private readonly options: BuiltinAgentTransportOptions) {
    this.token = options.token;
    this.retries = new JobRetries(options.giveUpAfterMs);
    this.resender = setInterval(() => {
      const socket = this.socket;
      if (socket?.readyState !== WebSocket.OPEN) return;
      // What was sent has not all left yet (the server is not reading this
      // connection while it works through its frames): another copy of each
      // would only pile up here, and be read there after the first.
      if (socket.bufferedAmount > 0) return;
      for (const event of this.unacked.values()) send(socket, { kind: 'event', message: event });
    }, options.resendIntervalMs ?? 10_000);
    this.resender.unref();
  }

  start(onJob: (job: Job) => Promise<void>): void {
    this.onJob = onJob;
    this.connect();
  }

  emit(event: AgentEvent): void {
    const checked = agentEventSchema.parse(event);
    // A newer health report of an app replaces the one still waiting: the latest says all.
    dropSupersededHealth(this.unacked, checked);
    this.unacked.set(checked.id, checked);
    if (this.socket?.readyState === WebSocket.OPEN)
      send(this.socket, { kind: 'event', message: checked });
  }

  drain(): Promise<void> {
    if (this.unacked.size === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(closedError(this.unacked.size));
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  onConnection(handler: (connected: boolean) => void): void {
    this.connectionHandler = handler;
  }

  /**
   * Opens connections with `token` from now on, and hands it to the server on
   * the connection open now, so that it stays open when the old credential
   * stops counting. Resolves once the server has answered (or the connection
   * went: the next one is opened with the new credential).
   */
  useCredential(token: string): Promise<void> {
    this.token = token;
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN) return Promise.resolve();
    const id = `credential-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return new Promise((resolve) => {
      this.credentialWaiters.set(id, resolve);
      send(socket, { kind: 'credential', id, token });
    });
  }

  askWanted(installId: string, signal: AbortSignal): Promise<InstallWanted> | undefined {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN || !this.answering.has(socket)) return undefined;
    const id = `wanted-${++this.questionsAsked}`;
    return new Promise<InstallWanted>((resolve, reject) => {
      const aborted = () => {
        this.questions.delete(id);
        reject(new Error('no answer on the connection before the deadline'));
      };
      if (signal.aborted) return aborted();
      signal.addEventListener('abort', aborted, { once: true });
      const settled =
        <T>(then: (value: T) => void) =>
        (value: T) => {
          signal.removeEventListener('abort', aborted);
          this.questions.delete(id);
          then(value);
        };
      this.questions.set(id, { socket, resolve: settled(resolve), reject: settled(reject) });
      send(socket, { kind: 'ask-wanted', id, installId });
    });
  }

  /**
   * Stops taking jobs. A job under way is waited for; if it waits for the server
   * to acknowledge its events, it is told that will not happen (its `drain`
   * rejects), so it is not acknowledged and comes again on the next start, when
   * the journal reports its result again.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.drainWaiters.splice(0)) waiter.reject(closedError(this.unacked.size));
    this.wakeRetry?.();
    clearTimeout(this.reconnectTimer);
    clearInterval(this.resender);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        // A server that does not answer the close within a second is cut off:
        // one busy handling this agent's frames does not read the connection
        // meanwhile, and ws would wait 30 s for its answer.
        const cutOff = setTimeout(() => socket.terminate(), 1000);
        socket.once('close', () => {
          clearTimeout(cutOff);
          resolve();
        });
        socket.close(1000, 'agent stopping');
      });
    }
    await this.jobs;
  }

  private connect(): void {
    if (this.closed) return;
    const url = new URL(AGENT_SOCKET_PATH, this.options.server.replace(/^http/, 'ws'));
    const openedWith = this.token;
    const socket = new WebSocket(url, {
      ...this.options.tls,
      headers: { authorization: `Bearer ${openedWith}` },
      maxPayload: MAX_MESSAGE_BYTES,
    });
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      // Rotated while this connection was being opened: it takes the new one too.
      if (this.token !== openedWith) void this.useCredential(this.token);
      this.options.logger.info({ server: this.options.server }, 'connected to the server');
      this.connectionHandler(true);
      for (const event of this.unacked.values()) send(socket, { kind: 'event', message: event });
    });
    let silence: NodeJS.Timeout | undefined;
    socket.on('upgrade', (response) => {
      if (response.headers[QUESTIONS_HEADER] === '1') this.answering.add(socket);
      const pingIntervalMs = Number(response.headers[PING_INTERVAL_HEADER]);
      if (Number.isSafeInteger(pingIntervalMs) && pingIntervalMs > 0)
        silence = this.watchSilence(
          socket,
          silenceLimitMs(pingIntervalMs, this.options.silenceFloorMs),
        );
    });
    socket.on('message', (data) => {
      silence?.refresh();
      this.received(socket, data);
    });
    socket.on('ping', () => silence?.refresh());
    socket.on('pong', () => silence?.refresh());
    socket.on('unexpected-response', (_request, response) => {
      // The server refused the connection (a wrong or revoked token): say why.
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        const status = response.statusCode;
        if (status === 503) {
          // Every agent is told so when its server restarts (E_SERVER_STOPPING),
          // or by a proxy in front while the server is away: expected, and
          // the connection is opened again (at 'close') — no error of the agent's.
          const { code } = errorFromAnswer(status, body);
          this.options.logger.warn(
            // A proxy's answer is no Ferry error: its body says what it is.
            code === 'E_SERVER_STOPPING' ? { status, code } : { status, body: body.slice(0, 500) },
            code === 'E_SERVER_STOPPING'
              ? 'the server is stopping or restarting: connecting again'
              : 'the server is unavailable for now: connecting again',
          );
        } else {
          this.options.logger.error({ status, body }, 'the server refused the agent connection');
        }
        socket.terminate();
      });
    });
    socket.on('error', (err) => this.options.logger.warn({ err: err.message }, 'connection error'));
    socket.on('close', (code, reason) => {
      clearTimeout(silence);
      if (this.socket === socket) this.socket = undefined;
      for (const answered of this.credentialWaiters.values()) answered();
      this.credentialWaiters.clear();
      for (const question of [...this.questions.values()])
        if (question.socket === socket)
          question.reject(new Error('the connection to the server closed before it answered'));
      if (code === 4001) {
        // Closed by the server: the host was cut off, or its credential expired.
        this.options.logger.error(
          { code, reason: reason.toString() },
          'the server closed the agent connection',
        );
      }
      this.connectionHandler(false);
      this.scheduleReconnect();
    });
  }

  /**
   * Drops `socket` once the server has sent nothing on it for `limitMs` (the
   * returned timer is refreshed at each frame or ping): a connection the
   * network lost without a word (a server's host gone, a NAT that forgot it)
   * stays open on this side until TCP gives up, which can take many minutes,
   * while the jobs sent meanwhile wait on the server for this host.
   */
  private watchSilence(socket: WebSocket, limitMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.options.logger.warn(
        { server: this.options.server, silentForMs: limitMs },
        'the server has sent nothing for too long; dropping the connection and connecting again',
      );
      socket.terminate();
    }, limitMs);
    timer.unref();
    return timer;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const initial = this.options.initialDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** this.attempt++);
    // Jitter spreads out a fleet of agents that lost the server at the same moment.
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private received(socket: WebSocket, data: unknown): void {
    const parsed = parseFrame(data);
    if ('error' in parsed) {
      this.options.logger.warn(
        { error: parsed.error },
        'refused a malformed frame from the server',
      );
      return;
    }
    const { frame } = parsed;
    const credentialAnswered = this.credentialWaiters.get(
      frame.kind === 'ack' || frame.kind === 'refused' ? frame.id : '',
    );
    if (credentialAnswered !== undefined && (frame.kind === 'ack' || frame.kind === 'refused')) {
      this.credentialWaiters.delete(frame.id);
      if (frame.kind === 'refused')
        this.options.logger.error({ error: frame.error }, 'the server refused the new credential');
      credentialAnswered();
      return;
    }
    if (frame.kind === 'ack' || frame.kind === 'refused') {
      if (frame.kind === 'refused') {
        this.options.logger.error(
          { id: frame.id, error: frame.error },
          'the server refused an event',
        );
      }
      this.unacked.delete(frame.id);
      if (this.unacked.size === 0) {
        for (const waiter of this.drainWaiters.splice(0)) waiter.resolve();
      }
      return;
    }
    if (frame.kind === 'wanted') {
      const question = this.questions.get(frame.id);
      if (!question) return; // Given up on (its deadline passed).
      if (frame.answer) question.resolve(frame.answer);
      else
        question.reject(
          new WantedRefusal(
            frame.error?.code ?? 'E_INTERNAL',
            frame.error?.status ?? 500,
            frame.error?.message ?? 'the server answered neither yes nor no',
          ),
        );
      return;
    }
    if (frame.kind !== 'job') {
      this.options.logger.warn({ kind: frame.kind }, 'refused a frame the server may not send');
      return;
    }
    const job = jobSchema.safeParse(frame.message);
    if (!job.success) {
      const error = job.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      const id = idOf(frame.message);
      this.options.logger.error({ id, error }, 'refused a job this agent cannot handle');
      // In turn with the jobs before it: ended as a failed install, then refused
      // (which takes it off the outbox), so the jobs after it go on.
      this.jobs = this.jobs.then(() => this.refuse(socket, id, error));
      return;
    }
    // Already waiting its turn, or being handled again after a failure: it will be acknowledged then.
    if (this.queuedJobs.has(job.data.id)) return;
    this.queuedJobs.add(job.data.id);
    // One job at a time, in the order they came.
    this.jobs = this.jobs
      .then(() => this.handle(socket, job.data))
      .finally(() => this.queuedJobs.delete(job.data.id));
  }

  private async refuse(socket: WebSocket, id: string, error: string): Promise<void> {
    if (this.closed) return;
    try {
      if (id !== '') {
        this.emit(unhandledJobEvent(id, `this agent cannot handle it (${error})`));
        await this.drain();
      }
      send(this.socket ?? socket, { kind: 'refused', id, error });
    } catch (err) {
      this.options.logger.error({ err, jobId: id }, 'reporting an unhandled job failed');
    }
  }

  /**
   * Handles a job until it is acknowledged: a handler that fails (the server
   * could not say whether the job is still wanted, a disk was full) gets the job
   * again after a pause that doubles each time, as a broker would redeliver it.
   * Later jobs wait their turn, in order. A failure that will not mend, or one
   * that lasts past `giveUpAfterMs`, ends the job as a failed install. Stopping
   * leaves it unacknowledged, for the next start.
   */
  private async handle(socket: WebSocket, job: Job): Promise<void> {
    let delay = this.options.retryDelayMs ?? 2000;
    while (!this.closed) {
      try {
        await this.onJob?.(job);
        this.retries.done(job.id);
        // On the connection of now: the one the job came on may have dropped meanwhile.
        send(this.socket ?? socket, { kind: 'ack', id: job.id });
        return;
      } catch (err) {
        const givenUp = this.retries.failed(job.id, err);
        if (givenUp !== undefined) return this.giveUp(socket, job.id, givenUp, err);
        this.options.logger.error(
          { err, jobId: job.id, retryInMs: delay },
          'handling a job failed; it is delivered again after a pause',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeRetry = undefined;
      delay = Math.min(delay * 2, 30_000);
    }
  }

  /** Ends a job whose handler will not succeed as a failed install, then acknowledges it. */
  private async giveUp(
    socket: WebSocket,
    jobId: string,
    reason: string,
    err: unknown,
  ): Promise<void> {
    this.options.logger.error(
      { err, jobId, reason },
      'handling a job failed for good: it ends as a failed install',
    );
    try {
      this.emit(unhandledJobEvent(jobId, reason));
      await this.drain();
      send(this.socket ?? socket, { kind: 'ack', id: jobId });
    } catch (drainErr) {
      // Stopping: not acknowledged, it comes again on the next start.
      this.options.logger.error({ err: drainErr, jobId }, 'reporting a failed job failed');
    }
  }
}

function send(socket: WebSocket, frame: Frame): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

/** Why a job's events will not be acknowledged: the agent is stopping. */
function closedError(pending: number): Error {
  return new Error(
    `the agent is stopping with ${pending} event${pending === 1 ? '' : 's'} not yet acknowledged by the server`,
  );
}
