import { FerryError } from '../../protocol/errors.js';
import type { DriftAnswer, DriftQuery } from '../../protocol/report-api.js';
import type { ConfigSnapshot } from '../../store/install-store.js';
import type { Store } from '../../store/store.js';
import { requireEnvironment } from '../environments.js';
import { comparedHosts, type DriftInput, findDrift } from './drift.js';

/**
 * `ferry drift`: gathers what `findDrift` compares from the store — the
 * hosts with their last facts, the desired releases, the role of each app (its
 * newest bundle's) and the configuration snapshot each host's current release
 * runs with (the install its facts name) — and answers with the differences.
 * One query per app and per host's app; a fleet of hundreds stays quick.
 * An environment or an app the server does not know is `E_ENV_NOT_FOUND` or
 * `E_APP_NOT_FOUND`, not an empty answer that looks like agreement.
 */
export async function gatherDrift(
  store: Store,
  query: DriftQuery,
  now = new Date(),
): Promise<DriftAnswer> {
  if (query.env !== undefined) await requireEnvironment(store, query.env);
  if (query.app !== undefined && !(await store.bundles.hasApp(query.app))) {
    throw new FerryError('E_APP_NOT_FOUND', `No app named ${query.app}`, { app: query.app });
  }
  const hosts = await store.hosts.list(query.env === undefined ? {} : { env: query.env });
  const desired = await store.deployments.listDesiredReleases({
    ...(query.env === undefined ? {} : { env: query.env }),
    ...(query.app === undefined ? {} : { app: query.app }),
  });
  const apps = new Set(desired.map((d) => d.app));
  for (const h of hosts) for (const app of Object.keys(h.facts?.apps ?? {})) apps.add(app);
  if (query.app !== undefined) {
    apps.clear();
    apps.add(query.app);
  }
  const appRoles = new Map<string, string>();
  for (const app of apps) {
    const [newest] = await store.bundles.list(app, { limit: 1 });
    const detail = newest && (await store.bundles.get(app, newest.version));
    const role = detail?.manifest.role;
    appRoles.set(app, typeof role === 'string' ? role : app);
  }
  const runningConfig: Array<{ hostId: string; app: string; snapshot: ConfigSnapshot }> = [];
  for (const h of hosts) {
    for (const [app, facts] of Object.entries(h.facts?.apps ?? {})) {
      const installId = facts.config?.installId;
      if (!apps.has(app) || installId == null) continue;
      const snapshot = await store.installs.getSnapshot(installId);
      if (snapshot) runningConfig.push({ hostId: h.id, app, snapshot });
    }
  }
  const input: DriftInput = {
    hosts,
    desired,
    runningConfig,
    appRoles,
    ...(query.env === undefined ? {} : { env: query.env }),
    ...(query.app === undefined ? {} : { app: query.app }),
  };
  const compared = comparedHosts(input);
  return {
    generatedAt: now.toISOString(),
    hostsCompared: compared.length,
    away: compared.filter((h) => !h.connected).map((h) => h.name),
    drift: findDrift(input),
  };
}
