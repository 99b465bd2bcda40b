import { WebSocket } from 'ws';
import { assertJobFits, MAX_JOB_BYTES } from '../../protocol/job-size.js';
import { type AgentEvent, type Job, jobSchema } from '../../protocol/messages.js';
import type { Store } from '../../store/store.js';
import type { TransportLogger } from '../transport.js';
import { unhandledJobEvent } from '../unhandled-job.js';
import { hangUp, sendFrame } from './agent-socket.js';

/** What `OutboxDelivery` needs of the transport. */
export interface OutboxDeliveryOptions {
  store: Store;
  logger: TransportLogger;
  /** The open connection of a host, if it has one. */
  socketOf: (hostId: string) => WebSocket | undefined;
  /** True once the transport stops: no more of an outbox is sent. */
  stopping: () => boolean;
  /** The transport's event handler: an undeliverable job ends as a failed install through it. */
  handleEvent: (hostId: string, event: AgentEvent) => Promise<void>;
}

/**
 * Each host's jobs, kept in a durable outbox in the store until the agent
 * acknowledges them: a job is stored, then sent at once when its host is
 * connected; a host that connects gets everything still in its outbox, in
 * order, and the jobs stored meanwhile after it.
 *
 * @example
 *   await outbox.send(hostId, job);
 *   outbox.deliver(hostId, ws); // once a host's connection opens
 */
export class OutboxDelivery {
  /** Hosts whose outbox is being delivered after they connected: new jobs wait their turn. */
  private readonly syncing = new Set<string>();
  /** Hosts that got a job while their outbox was being delivered: read it once more. */
  private readonly queuedWhileSyncing = new Set<string>();
  /** Outboxes being sent to connections that just opened. */
  private readonly delivering = new Set<Promise<void>>();

  constructor(private readonly options: OutboxDeliveryOptions) {}

  /** The outboxes being sent now, each settled once it is (for a stop to wait for). */
  get inProgress(): ReadonlySet<Promise<void>> {
    return this.delivering;
  }

  /** Stores a job in its host's outbox, and sends it if the host is connected. */
  async send(hostId: string, job: Job): Promise<void> {
    const message = jobSchema.parse(job);
    // A frame over the limit would make the agent drop the connection, get the
    // job again on reconnecting, and drop it again: refused before it is stored.
    assertJobFits(message, `install ${message.id} for host ${hostId}`);
    await this.options.store.outbox.enqueue(hostId, {
      id: message.id,
      body: JSON.stringify(message),
    });
    const socket = this.options.socketOf(hostId);
    if (!socket) return;
    if (this.syncing.has(hostId)) this.queuedWhileSyncing.add(hostId);
    else sendFrame(socket, { kind: 'job', message });
  }

  /** Sends a host's outbox on the connection it just opened; a failure is logged. */
  deliver(hostId: string, ws: WebSocket): void {
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
        if (ws.readyState !== WebSocket.OPEN || this.options.stopping()) return;
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
      if (this.options.socketOf(hostId) === ws) this.syncing.delete(hostId);
    }
  }

  /**
   * A job stored before jobs were bounded, too large for a frame: it ends as a
   * failed install and leaves the outbox, so the jobs behind it go out.
   */
  private async undeliverable(hostId: string, id: string, bytes: number): Promise<void> {
    const reason = `it is ${bytes} bytes, more than the ${MAX_JOB_BYTES} a transport message carries`;
    this.options.logger.error({ hostId, id, bytes }, 'dropped a job too large to deliver');
    await this.options.handleEvent(hostId, unhandledJobEvent(id, reason));
    await this.options.store.outbox.ack(hostId, id);
  }
}
