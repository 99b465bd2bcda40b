import type { FastifyBaseLogger } from 'fastify';
import type { AuditEntry } from '../../protocol/audit-api.js';
import type { AuditListQuery, AuditStore, NewAuditEntry } from '../../store/store.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The server's audit log: records entries without holding up the request
 * that made them, reads them for `GET /audit`, and prunes those older than
 * the retention, at start and every hour. A record the store refuses is
 * written to the server's log in full instead (it holds no secret), at
 * error level: never dropped without a word.
 *
 * @example
 *   const audit = new AuditLog(store.audit, app.log, config.audit.retentionDays);
 *   app.addHook('onReady', () => audit.start());
 *   audit.record({ at, who, from, action: 'deploy', method: 'POST', path: '/deployments',
 *     target: { app: 'cart', version: 12, env: 'prod' }, status: 201, outcome: 'ok' });
 */
export class AuditLog {
  /** Writes under way, awaited by `idle()` before the store closes. */
  private readonly writing = new Set<Promise<void>>();
  private pruning: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: FastifyBaseLogger,
    private readonly retentionDays: number,
  ) {}

  /** Records an entry in the background; a failure is logged with the entry. */
  record(entry: NewAuditEntry): void {
    const write = this.store.record(entry).catch((err: unknown) => {
      this.logger.error({ err, audit: entry }, 'the audit log could not record this entry');
    });
    this.writing.add(write);
    void write.finally(() => this.writing.delete(write));
  }

  /** The entries a query asks for, oldest first. */
  list(query: AuditListQuery): Promise<AuditEntry[]> {
    return this.store.list(query);
  }

  /** Prunes now, then every hour. */
  async start(): Promise<void> {
    await this.prune();
    this.pruning = setInterval(() => void this.prune(), HOUR_MS);
    this.pruning.unref();
  }

  /** Stops pruning and waits for the entries being written. */
  async stop(): Promise<void> {
    clearInterval(this.pruning);
    await this.idle();
  }

  /** Waits until every entry recorded so far is written (or its failure logged). */
  async idle(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing]);
  }

  /** Deletes the entries older than the retention; answers how many. Never throws. */
  async prune(now = Date.now()): Promise<number> {
    const before = new Date(now - this.retentionDays * DAY_MS).toISOString();
    try {
      const pruned = await this.store.prune(before);
      if (pruned > 0) this.logger.info({ pruned, before }, 'old audit entries pruned');
      return pruned;
    } catch (err) {
      this.logger.error({ err, before }, 'pruning old audit entries failed');
      return 0;
    }
  }
}
