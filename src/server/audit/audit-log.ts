import type { FastifyBaseLogger } from 'fastify';
import type { AuditEntry } from '../../protocol/audit-api.js';
import type { AuditListQuery, AuditStore, NewAuditEntry } from '../../store/store.js';

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** The writes that may wait on the store at once; beyond, entries are dropped and counted. */
export const MAX_AUDIT_WRITES_WAITING = 1000;
/** The (address, action, outcome) keys whose refusals are being coalesced, at most. */
const MAX_COALESCING = 10_000;

/** The refusals of one address, action and outcome without a valid credential, this minute. */
interface Coalescing {
  /** When the last entry of this key was written: the minute runs from there. */
  since: number;
  /** The newest refusal not yet written, and how many it stands for (0: none). */
  newest: NewAuditEntry | undefined;
  count: number;
}

/**
 * The server's audit log: records entries without holding up the request
 * that made them, reads them for `GET /audit`, and prunes those older than
 * the retention, at start and every hour. A record the store refuses is
 * written to the server's log in full instead (it holds no secret), at
 * error level: never dropped without a word.
 *
 * Anyone who reaches the port can make refusals, so those without a valid
 * credential (no token counted: `who` null) are coalesced: the first of an
 * address, action and outcome is recorded as usual, then at most one entry
 * a minute stands for the rest, the newest of them with their `count`. And
 * at most `MAX_AUDIT_WRITES_WAITING` writes wait on the store: beyond, an
 * entry is dropped, and how many were is logged at error level.
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
  private sweeping: NodeJS.Timeout | undefined;
  private readonly coalescing = new Map<string, Coalescing>();
  /** Entries dropped since the last word about it. */
  private dropped = 0;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: FastifyBaseLogger,
    private readonly retentionDays: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an entry in the background; a failure is logged with the entry.
   * A refusal without a valid credential may be held to be coalesced.
   */
  record(entry: NewAuditEntry): void {
    if (entry.who === null && entry.status >= 400) this.coalesce(entry);
    else this.write(entry);
  }

  /** Writes the refusals being coalesced whose minute has run out (all, with `all`). */
  flush(all = false): void {
    const now = this.now();
    for (const [key, held] of this.coalescing) {
      if (!all && now - held.since < MINUTE_MS) continue;
      if (held.newest === undefined) {
        this.coalescing.delete(key);
        continue;
      }
      this.write({ ...held.newest, count: held.count });
      held.since = now;
      held.newest = undefined;
      held.count = 0;
    }
    this.reportDropped();
  }

  private coalesce(entry: NewAuditEntry): void {
    const key = `${entry.from}\u0000${entry.action}\u0000${entry.outcome}`;
    const now = this.now();
    const held = this.coalescing.get(key);
    if (held === undefined) {
      if (this.coalescing.size >= MAX_COALESCING) this.flush();
      if (this.coalescing.size < MAX_COALESCING) {
        this.coalescing.set(key, { since: now, newest: undefined, count: 0 });
      }
      this.write(entry);
      return;
    }
    held.newest = entry;
    held.count += 1;
    if (now - held.since >= MINUTE_MS) {
      this.write({ ...entry, count: held.count });
      held.since = now;
      held.newest = undefined;
      held.count = 0;
    }
  }

  private write(entry: NewAuditEntry): void {
    if (this.writing.size >= MAX_AUDIT_WRITES_WAITING) {
      this.dropped += entry.count ?? 1;
      return;
    }
    this.reportDropped();
    const write = this.store.record(entry).catch((err: unknown) => {
      this.logger.error({ err, audit: entry }, 'the audit log could not record this entry');
    });
    this.writing.add(write);
    void write.finally(() => this.writing.delete(write));
  }

  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.logger.error(
      { dropped: this.dropped, waiting: MAX_AUDIT_WRITES_WAITING },
      `the audit log dropped ${this.dropped} entries: ${MAX_AUDIT_WRITES_WAITING} writes were waiting on the store`,
    );
    this.dropped = 0;
  }

  /** The entries a query asks for, oldest first. */
  list(query: AuditListQuery): Promise<AuditEntry[]> {
    return this.store.list(query);
  }

  /** Prunes now, then every hour; writes coalesced refusals every minute. */
  async start(): Promise<void> {
    await this.prune();
    this.pruning = setInterval(() => void this.prune(), HOUR_MS);
    this.pruning.unref();
    this.sweeping = setInterval(() => this.flush(), MINUTE_MS / 4);
    this.sweeping.unref();
  }

  /** Stops pruning, writes the refusals being coalesced, and waits for the entries being written. */
  async stop(): Promise<void> {
    clearInterval(this.pruning);
    clearInterval(this.sweeping);
    this.flush(true);
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
