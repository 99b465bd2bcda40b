import type { BundleDetail, HostRecord, StepLog } from '../../../protocol/api.js';
import { type HostFactsInput, hostFactsSchema } from '../../../protocol/host-facts.js';
import type { ReportFacts, ReportInstallFacts } from '../report-facts.js';

/**
 * Plain ReportFacts for the findings' unit tests: a release of `cart@12`
 * (label 0.4.0) and environments qa and prod, to which each test adds the
 * hosts, installs and step output it is about.
 */
export function reportFacts(extra: Partial<ReportFacts> = {}): ReportFacts {
  return {
    subject: { kind: 'label', label: '0.4.0' },
    gatheredAt: '2024-05-01T12:00:00.000Z',
    bundles: [bundle('cart', 12)],
    environments: ['qa', 'prod'].map((name, position) => ({
      name,
      position,
      autoDeploy: name === 'qa',
      requires: name === 'prod' ? 'passed' : null,
      autoPromote: false,
      protected: name === 'prod',
      strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '10m' },
      hosts: 0,
      connectedHosts: 0,
    })),
    hosts: [],
    desired: [],
    deployments: [],
    installs: [],
    runningConfig: [],
    setPerHost: [],
    notes: [],
    verdicts: [],
    ...extra,
  };
}

/** A bundle of the release, with `manifest` as its manifest section. */
export function bundle(app: string, version: number, manifest: object = {}): BundleDetail {
  return {
    app,
    version,
    label: '0.4.0',
    commit: null,
    dirty: null,
    sha256: 'a'.repeat(64),
    size: 1000,
    fileCount: 3,
    createdAt: '2024-05-01T10:00:00.000Z',
    pushedAt: '2024-05-01T10:00:00.000Z',
    pushedBy: 'dev',
    signatures: [],
    manifest: { role: app, ...manifest },
  };
}

/** A host of `env` with facts (`factsVersion` 2 and the defaults filled in). */
export function host(
  name: string,
  env: string,
  facts: Omit<HostFactsInput, 'factsVersion'> | null = {},
  extra: Partial<HostRecord> = {},
): HostRecord {
  return {
    id: `host_${name}`,
    name,
    env,
    roles: facts?.roles ?? ['cart'],
    vars: {},
    enrolledAt: '2024-04-01T00:00:00.000Z',
    lastSeenAt: '2024-05-01T11:59:00.000Z',
    connected: true,
    facts:
      facts === null ? null : hostFactsSchema.parse({ factsVersion: 2, roles: ['cart'], ...facts }),
    revokedAt: null,
    ...extra,
  };
}

let installs = 0;

/** One install of `app@version` on `hostName` in `env`, succeeded, with these steps' output. */
export function install(
  hostName: string,
  env: string,
  logs: Array<Partial<StepLog> & { step: string }>,
  options: { app?: string; version?: number; state?: 'succeeded' | 'failed' } = {},
): ReportInstallFacts {
  const id = `inst_${++installs}`;
  const stepLogs: StepLog[] = logs.map((l) => ({
    state: 'succeeded',
    exitCode: null,
    durationMs: 100,
    stdout: '',
    stderr: '',
    ...l,
  }));
  return {
    env,
    logs: stepLogs,
    install: {
      id,
      hostId: `host_${hostName}`,
      host: hostName,
      app: options.app ?? 'cart',
      version: options.version ?? 12,
      state: options.state ?? 'succeeded',
      rolledBack: false,
      error: null,
      deploymentId: 'dep_1',
      purpose: 'deploy',
      fromVersion: 11,
      createdBy: 'dev',
      createdAt: '2024-05-01T10:01:00.000Z',
      startedAt: '2024-05-01T10:01:01.000Z',
      finishedAt: '2024-05-01T10:02:00.000Z',
      steps: stepLogs.map((l) => ({
        step: l.step,
        state: l.state ?? 'succeeded',
        exitCode: l.exitCode,
        durationMs: l.durationMs,
        error: null,
        startedAt: '2024-05-01T10:01:01.000Z',
        finishedAt: '2024-05-01T10:01:02.000Z',
      })),
    },
  };
}
