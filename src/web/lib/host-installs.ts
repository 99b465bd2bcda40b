import type { AppStatus, DeploymentRecord } from '../../protocol/deployment-api.js';

/**
 * A host's recent installs as its page lists them: from the deployments of
 * its environment (each with its deployment, to link to), and the newest
 * install of each app that `status` knows and those deployments do not (one
 * made by hand, or older than the deployments fetched).
 *
 * @example
 *   hostInstalls('qa-1', deployments, status.apps)[0]; // { app: 'cart', version: 7, state: 'failed', step: 'health', … }
 */
export interface HostInstall {
  readonly id: string;
  readonly app: string;
  readonly version: number;
  /** Why it was made (`deploy`, `revert`, `catch-up`, `install`); null when not known. */
  readonly purpose: string | null;
  readonly state: string;
  /** The step it is at or ended on; null when none ran or it is not known. */
  readonly step: string | null;
  readonly deploymentId: string | null;
  readonly env: string | null;
  readonly kind: string | null;
  /** When it started (or its deployment was made); null when not known. */
  readonly at: string | null;
}

export function hostInstalls(
  host: string,
  deployments: readonly DeploymentRecord[],
  status: readonly AppStatus[],
): HostInstall[] {
  const found: HostInstall[] = [];
  for (const deployment of deployments) {
    for (const install of deployment.installs) {
      if (install.host !== host) continue;
      found.push({
        id: install.id,
        app: deployment.app,
        version: install.version,
        purpose: install.purpose,
        state: install.state,
        step: install.step?.step ?? null,
        deploymentId: deployment.id,
        env: deployment.env,
        kind: deployment.kind,
        at: install.startedAt ?? deployment.createdAt,
      });
    }
  }
  found.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
  const known = new Set(found.map((i) => i.id));
  const latest: HostInstall[] = [];
  for (const app of status) {
    for (const env of app.environments) {
      for (const entry of env.hosts) {
        const last = entry.lastInstall;
        if (entry.host !== host || last === null || known.has(last.id)) continue;
        latest.push({
          id: last.id,
          app: app.app,
          version: last.version,
          purpose: null,
          state: last.state,
          step: null,
          deploymentId: null,
          env: env.env,
          kind: null,
          at: null,
        });
      }
    }
  }
  return [...latest, ...found];
}
