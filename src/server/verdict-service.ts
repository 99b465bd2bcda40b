import type {
  HostRecord,
  LiveHost,
  Role,
  Verdict,
  VerdictMarkResult,
  VerdictRecord,
  VerdictState,
} from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';
import type { BundleService } from './bundle-service.js';
import { requireRole } from './token-service.js';

/** Who did what the server did by itself, in records and history. */
export const SERVER_ACTOR = 'ferry';

/**
 * QA's verdicts on bundles: `mark` records a change (history is never rewritten),
 * `verdictOf` is what a deployment asks before it lets a bundle into an environment.
 *
 * @example
 *   const result = await verdicts.mark(token, 'cart', 12, 'passed', 'checkout works');
 *   // { bundle: 'cart@12', verdict: 'passed', previous: 'pending', by: 'alice', ... }
 */
export class VerdictService {
  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Records a verdict for a bundle, by a qa or admin token. Marking the verdict it
   * already has still records the change, so a new note is never lost.
   */
  async mark(
    token: { name: string; role: Role },
    app: string,
    version: number,
    verdict: Verdict,
    note: string | null,
  ): Promise<VerdictMarkResult> {
    requireRole(token, 'qa', 'admin');
    await this.bundles.get(app, version);
    const record: VerdictRecord = {
      app,
      version,
      verdict,
      note: note === null || note.trim() === '' ? null : note,
      by: token.name,
      at: this.clock().toISOString(),
    };
    const { previous } = await this.store.verdicts.record(record);
    return {
      bundle: `${app}@${version}`,
      verdict,
      previous,
      by: record.by,
      at: record.at,
      note: record.note,
      liveOn: liveHosts(await this.store.hosts.list(), app, version),
      liveIn: await this.liveIn(app, version),
      deployments: [],
    };
  }

  /**
   * Records a verdict the server reached itself (an install that failed in an
   * environment with `autoDeploy`), by `ferry`, with the reason as its note.
   */
  async markByServer(app: string, version: number, verdict: Verdict, note: string): Promise<void> {
    await this.store.verdicts.record({
      app,
      version,
      verdict,
      note,
      by: SERVER_ACTOR,
      at: this.clock().toISOString(),
    });
  }

  /** The environments whose desired release is this bundle, in lifecycle order. */
  private async liveIn(app: string, version: number): Promise<string[]> {
    const order = await this.store.environments.list();
    return (await this.store.deployments.listDesiredReleases({ app }))
      .filter((d) => d.version === version)
      .map((d) => d.env)
      .sort((a, b) => order.indexOf(a) - order.indexOf(b));
  }

  /** A bundle's verdict changes, newest first; the bundle must exist. */
  async history(app: string, version: number): Promise<VerdictRecord[]> {
    await this.bundles.get(app, version);
    return this.store.verdicts.list(app, version);
  }

  /** A bundle's verdict now: `pending` until someone marks it. */
  verdictOf(app: string, version: number): Promise<VerdictState> {
    return this.store.verdicts.current(app, version);
  }
}

/**
 * The hosts whose last reported facts say `app` runs at `version` now, by name.
 * A host that has reported no facts does not count as live.
 */
export function liveHosts(hosts: HostRecord[], app: string, version: number): LiveHost[] {
  return hosts
    .filter((host) => host.facts?.apps[app]?.current === version)
    .map((host) => ({ host: host.name, env: host.env }))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/**
 * Refuses a bundle whose verdict is not the one an environment requires, with
 * `E_VERDICT_REQUIRED` naming both. `needed` is the environment's `requires`;
 * null lets any bundle in.
 *
 * @example
 *   requireVerdict(await verdicts.verdictOf('cart', 12), 'passed', 'prod', 'cart@12');
 */
export function requireVerdict(
  has: VerdictState,
  needed: Verdict | null,
  env: string,
  bundle = 'this bundle',
): void {
  if (needed === null || has === needed) return;
  throw new FerryError(
    'E_VERDICT_REQUIRED',
    `${bundle} is ${has}; the ${env} environment takes only bundles marked ${needed}`,
    { bundle, env, has, needs: needed },
  );
}
