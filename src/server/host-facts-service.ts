import { FerryError } from '../protocol/errors.js';
import { factChanges, isVolatileFact } from '../protocol/host-facts-changes.js';
import {
  type FactsHistoryEntry,
  type HostFacts,
  type HostFactsAnswer,
  parseHostFacts,
} from '../protocol/host-facts.js';
import type { Store } from '../store/store.js';

/** How much facts history the server keeps (server config `factsHistory`). */
export interface FactsHistorySettings {
  /** Samples kept per host, newest first. */
  keepSamples: number;
  /** Samples older than this many days go. */
  keepDays: number;
  /**
   * A report that changes only load, free memory or disk, or a service's uptime
   * is sampled at most this often; any other change is sampled at once.
   */
  sampleMinutes: number;
}

/** The few logging calls the service makes. */
interface Logger {
  warn(details: object, message: string): void;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Host facts: each report validated against the facts schema, the latest kept
 * on the host, and a bounded history of samples — taken when the facts changed,
 * not at every heartbeat.
 *
 * @example
 *   await facts.report(hostId, event.facts); // the facts, or null when refused
 *   await facts.show('qa-1', 20);             // latest facts and 20 samples
 */
export class HostFactsService {
  constructor(
    private readonly store: Store,
    private readonly settings: FactsHistorySettings,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Records a host's report. One that does not parse is logged and refused
   * (null): the host keeps the facts it had. It is not thrown, since delivering
   * the same report again would not make it valid.
   */
  async report(hostId: string, report: unknown): Promise<HostFacts | null> {
    let facts: HostFacts;
    try {
      facts = parseHostFacts(report);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      this.logger.warn(
        { hostId, code: err.code, problems: err.details?.problems },
        'refused a facts report; the host keeps its previous facts',
      );
      return null;
    }
    const now = this.clock();
    const at = now.toISOString();
    await this.store.hosts.setFacts(hostId, facts, at);
    const [last] = await this.store.hosts.listFactsSamples(hostId, { limit: 1 });
    if (this.worthSampling(last, facts, now)) {
      await this.store.hosts.addFactsSample(
        hostId,
        { at, facts },
        {
          keep: this.settings.keepSamples,
          since: new Date(now.getTime() - this.settings.keepDays * DAY_MS).toISOString(),
        },
      );
    }
    return facts;
  }

  /** Whether a report makes a new sample: the first, a change, or volatile facts that moved a while after the last. */
  private worthSampling(
    last: { at: string; facts: HostFacts } | undefined,
    facts: HostFacts,
    now: Date,
  ): boolean {
    if (!last) return true;
    const changes = factChanges(last.facts, facts);
    if (changes.some((c) => !isVolatileFact(c.field))) return true;
    const due = now.getTime() - Date.parse(last.at) >= this.settings.sampleMinutes * 60_000;
    return changes.length > 0 && due;
  }

  /** A host's latest facts and its newest `history` samples, each with what changed since the one before. */
  async show(name: string, history: number): Promise<HostFactsAnswer> {
    const host = await this.store.hosts.findByName(name);
    if (!host) throw new FerryError('E_HOST_NOT_FOUND', `No host named ${name}`, { host: name });
    // One more than asked, so the oldest shown says what changed since the one before it.
    const samples =
      history > 0 ? await this.store.hosts.listFactsSamples(host.id, { limit: history + 1 }) : [];
    const entries: FactsHistoryEntry[] = samples.slice(0, history).map((sample, i) => ({
      at: sample.at,
      facts: sample.facts,
      changes: factChanges(samples[i + 1]?.facts ?? null, sample.facts),
    }));
    return {
      host: host.name,
      hostId: host.id,
      env: host.env,
      lastSeenAt: host.lastSeenAt,
      facts: host.facts,
      history: entries,
    };
  }
}
