import type { BundleDetail, EnvironmentRecord } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import type { NoteSubject } from '../../protocol/note-api.js';
import type { ReportStepLog } from '../../store/install-store.js';
import type { Store, StoredInstall } from '../../store/store.js';
import { toDeploymentRecord } from '../deployments/deployment-record.js';
import { type EnvironmentConfig, isProtected } from '../environment-config.js';
import { hostScopes, perHostVariables } from './drift.js';
import { WARNING_SCAN_MAX } from './findings/warnings.js';
import type { ReportFacts, ReportInstallFacts } from './report-facts.js';

/**
 * How much of each step's output a report reads: the head its findings scan
 * (`WARNING_SCAN_MAX`), and of a failed step the tail its last lines come
 * from. A step's output has no size limit; the report's memory must not grow with it.
 */
export const REPORT_OUTPUT_BOUNDS = { headChars: WARNING_SCAN_MAX, tailChars: 64 * 1024 } as const;

/**
 * Reads every record a release report is made from, for one bundle
 * (`cart@12`) or a label (every bundle pushed with it, across apps), in a
 * fixed number of queries whatever the number of hosts: the bundles, the
 * hosts, the desired releases, the deployments, their installs with steps
 * and output (bounded: `REPORT_OUTPUT_BOUNDS`), the snapshots hosts run with, the notes and the verdicts.
 *
 * Throws `E_BUNDLE_NOT_FOUND` for an unknown bundle and `E_LABEL_NOT_FOUND`
 * for a label no bundle carries.
 *
 * @example
 *   const facts = await gatherReportFacts(store, { kind: 'label', label: '0.4.0' }, config.environments);
 *   const report = buildReport(facts, makeFindings(facts));
 */
export async function gatherReportFacts(
  store: Store,
  subject: NoteSubject,
  environments: readonly EnvironmentConfig[],
  now: () => Date = () => new Date(),
): Promise<ReportFacts> {
  const gatheredAt = now().toISOString();
  const bundles = await releaseBundles(store, subject);
  const keys = bundles.map((b) => ({ app: b.app, version: b.version }));
  const apps = [...new Set(bundles.map((b) => b.app))];

  const [hosts, desired, stored, notes] = await Promise.all([
    store.hosts.list(),
    store.deployments.listDesiredReleases(),
    store.deployments.listForBundles(keys),
    store.notes.list(
      subject.kind === 'label'
        ? { label: subject.label }
        : { app: subject.app, version: subject.version },
    ),
  ]);
  const installs = await store.installs.listForRelease({
    bundles: keys,
    deploymentIds: stored.map((d) => d.id),
  });
  // What each host runs each of the release's apps with: the snapshot of the
  // install its facts name.
  const running = hosts.flatMap((host) =>
    apps.flatMap((app) => {
      const installId = host.facts?.apps[app]?.config?.installId ?? null;
      return installId === null ? [] : [{ hostId: host.id, app, installId }];
    }),
  );
  const [logs, snapshots, verdicts, hostVariables] = await Promise.all([
    store.installs.logsForReport(
      installs.map((i) => i.id),
      REPORT_OUTPUT_BOUNDS,
    ),
    store.installs.getSnapshots(running.map((r) => r.installId)),
    Promise.all(apps.map((app) => store.verdicts.listByApp(app))),
    store.variables.list({ scopes: hostScopes(hosts) }),
  ]);

  const deploymentEnv = new Map(stored.map((d) => [d.id, d.env]));
  const hostEnv = new Map(hosts.map((h) => [h.id, h.env]));
  // A host removed since keeps its record; its environment is read from it.
  for (const install of installs) {
    if (hostEnv.has(install.hostId) || deploymentEnv.has(install.deploymentId ?? '')) continue;
    const removed = await store.hosts.get(install.hostId);
    hostEnv.set(install.hostId, removed?.env ?? 'unknown');
  }
  const logsOf = new Map(logs.map((l) => [l.installId, l.steps]));
  const snapshotOf = new Map(snapshots.map((s) => [s.installId, s.snapshot]));
  const wanted = new Set(keys.map((k) => `${k.app}@${k.version}`));

  return {
    subject,
    gatheredAt,
    bundles,
    environments: environmentRecords(environments, hosts),
    hosts,
    desired: desired.map((d) => ({ env: d.env, app: d.app, version: d.version })),
    deployments: stored.map((d) =>
      toDeploymentRecord(
        d,
        installs.filter((i) => i.deploymentId === d.id),
      ),
    ),
    installs: installs.map((install): ReportInstallFacts => ({
      install: withoutStoreFields(install),
      env: deploymentEnv.get(install.deploymentId ?? '') ?? hostEnv.get(install.hostId) ?? '',
      logs: logsOf.get(install.id) ?? ([] as ReportStepLog[]),
    })),
    runningConfig: running.flatMap(({ hostId, app, installId }) => {
      const snapshot = snapshotOf.get(installId);
      return snapshot ? [{ hostId, app, snapshot }] : [];
    }),
    setPerHost: perHostVariables(hostVariables),
    notes,
    verdicts: verdicts
      .flat()
      .filter((v) => wanted.has(`${v.app}@${v.version}`))
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .map((v) => ({
        app: v.app,
        version: v.version,
        verdict: v.verdict,
        by: v.by,
        at: v.at,
        note: v.note,
      })),
  };
}

/** The bundles a report is about, by app then version; none is an error that names the subject. */
async function releaseBundles(store: Store, subject: NoteSubject): Promise<BundleDetail[]> {
  if (subject.kind === 'bundle') {
    const bundle = await store.bundles.get(subject.app, subject.version);
    if (!bundle) {
      throw new FerryError(
        'E_BUNDLE_NOT_FOUND',
        `${subject.app}@${subject.version} does not exist`,
        { app: subject.app, version: subject.version },
      );
    }
    return [bundle];
  }
  const bundles = await store.bundles.listDetailsByLabel(subject.label);
  if (bundles.length === 0) {
    throw new FerryError(
      'E_LABEL_NOT_FOUND',
      `No bundle was pushed with the label "${subject.label}"`,
      { label: subject.label },
    );
  }
  return bundles;
}

/** The configured environments in lifecycle order, as `GET /envs` shows them. */
function environmentRecords(
  environments: readonly EnvironmentConfig[],
  hosts: ReportFacts['hosts'],
): EnvironmentRecord[] {
  return environments.map((env, position) => ({
    name: env.name,
    position,
    autoDeploy: env.autoDeploy,
    requires: env.requires,
    autoPromote: env.autoPromote,
    protected: isProtected(env),
    strategy: env.strategy,
    hosts: hosts.filter((h) => h.env === env.name).length,
    connectedHosts: hosts.filter((h) => h.env === env.name && h.connected).length,
  }));
}

/** The API's install record, without what only the store keeps (batch, when it was sent). */
function withoutStoreFields(install: StoredInstall): ReportInstallFacts['install'] {
  const record: Partial<StoredInstall> = { ...install };
  delete record.batch;
  delete record.sentAt;
  return record as ReportInstallFacts['install'];
}
