import { describe, expect, it } from 'vitest';
import type {
  BundleDetail,
  EnvironmentRecord,
  HostRecord,
  InstallRecord,
  InstallStep,
  StepLog,
} from '../../protocol/api.js';
import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import { hostFactsSchema } from '../../protocol/host-facts.js';
import type { NoteRecord } from '../../protocol/note-api.js';
import { type Finding, reportSchema } from '../../protocol/report-api.js';
import { buildReport } from './build-report.js';
import type { ReportFacts, ReportInstallFacts } from './report-facts.js';

const T = (minute: number) => new Date(Date.UTC(2024, 4, 1, 10, minute)).toISOString();

function bundle(app: string, version: number, pushedAt: string): BundleDetail {
  return {
    app,
    version,
    label: '0.4.0',
    commit: 'abc123',
    dirty: false,
    sha256: 'f'.repeat(64),
    size: 1000,
    fileCount: 3,
    createdAt: pushedAt,
    pushedAt,
    pushedBy: 'dev',
    signatures: [],
    manifest: { role: app },
  };
}

function env(name: string, position: number): EnvironmentRecord {
  const strategy = { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' };
  return {
    name,
    position,
    autoDeploy: name === 'qa',
    requires: name === 'prod' ? 'passed' : null,
    autoPromote: false,
    protected: name === 'prod',
    strategy,
    hosts: 0,
    connectedHosts: 0,
  };
}

function host(name: string, envName: string, role: string, current: Record<string, number>) {
  const apps = Object.fromEntries(Object.entries(current).map(([app, v]) => [app, { current: v }]));
  const record: HostRecord = {
    id: `h_${name}`,
    name,
    env: envName,
    roles: [role],
    vars: {},
    enrolledAt: T(0),
    lastSeenAt: T(0),
    connected: true,
    facts: hostFactsSchema.parse({ factsVersion: 2, apps }),
    revokedAt: null,
  };
  return record;
}

function step(name: string, state: InstallStep['state'], exitCode: number | null): InstallStep {
  return {
    step: name,
    state,
    exitCode,
    durationMs: 1500,
    error: state === 'failed' ? `${name} exited ${exitCode}` : null,
    startedAt: T(1),
    finishedAt: T(2),
  };
}

interface InstallSpec {
  id: string;
  hostName: string;
  env: string;
  app: string;
  version: number;
  state: InstallRecord['state'];
  deploymentId: string | null;
  purpose?: InstallRecord['purpose'];
  fromVersion?: number | null;
  rolledBack?: boolean;
  steps?: InstallStep[];
  logs?: StepLog[];
  at: number;
}

function install(spec: InstallSpec): ReportInstallFacts {
  return {
    env: spec.env,
    logs: spec.logs ?? [],
    install: {
      id: spec.id,
      hostId: `h_${spec.hostName}`,
      host: spec.hostName,
      app: spec.app,
      version: spec.version,
      state: spec.state,
      rolledBack: spec.rolledBack ?? false,
      error: spec.state === 'failed' ? 'install exited 1' : null,
      deploymentId: spec.deploymentId,
      purpose: spec.purpose ?? 'deploy',
      fromVersion: spec.fromVersion ?? null,
      createdBy: 'dev',
      createdAt: T(spec.at),
      startedAt: T(spec.at),
      finishedAt: T(spec.at + 2),
      steps: spec.steps ?? [step('fetch', 'succeeded', null), step('start', 'succeeded', null)],
    },
  };
}

function deployment(
  id: string,
  app: string,
  version: number,
  envName: string,
  state: DeploymentRecord['state'],
  at: number,
  extra: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    id,
    app,
    version,
    env: envName,
    kind: 'deploy',
    state,
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' },
    fromVersion: null,
    createdBy: 'dev',
    triggeredBy: null,
    createdAt: T(at),
    startedAt: T(at),
    finishedAt: state === 'running' ? null : T(at + 5),
    error: null,
    migratedOn: null,
    installs: [],
    ...extra,
  };
}

function note(id: number, extra: Partial<NoteRecord>): NoteRecord {
  return {
    id,
    on: { kind: 'label', label: '0.4.0' },
    section: 'deployment',
    impact: 'minor',
    text: 'something',
    fixedBy: null,
    finding: null,
    createdAt: T(30),
    createdBy: 'qa',
    updatedAt: T(30),
    updatedBy: 'qa',
    actions: [],
    ...extra,
  };
}

const stderr = Array.from({ length: 30 }, (_, i) => `npm ERR! line ${i + 1}`).join('\n') + '\n\n';

/** cart@12 went through qa, was passed, and was rolled back in prod; front@3 landed partially in prod. */
function release(): ReportFacts {
  return {
    subject: { kind: 'label', label: '0.4.0' },
    gatheredAt: T(59),
    bundles: [bundle('cart', 12, T(0)), bundle('front', 3, T(1))],
    environments: [env('qa', 0), env('prod', 1)],
    hosts: [
      host('qa-1', 'qa', 'cart', { cart: 12 }),
      host('prod-1', 'prod', 'cart', { cart: 11 }),
      host('prod-2', 'prod', 'cart', { cart: 11 }),
      host('prod-3', 'prod', 'front', { front: 3 }),
      host('prod-4', 'prod', 'front', { front: 2 }),
    ],
    desired: [{ env: 'qa', app: 'cart', version: 12 }],
    deployments: [
      deployment('dep_q', 'cart', 12, 'qa', 'succeeded', 2),
      deployment('dep_p', 'cart', 12, 'prod', 'rolled_back', 20, {
        error: '1 host failed, more than maxFailures 0',
      }),
      deployment('dep_f', 'front', 3, 'prod', 'partial', 25),
    ],
    installs: [
      install({
        id: 'i1',
        hostName: 'qa-1',
        env: 'qa',
        app: 'cart',
        version: 12,
        state: 'succeeded',
        deploymentId: 'dep_q',
        at: 2,
      }),
      install({
        id: 'i2',
        hostName: 'prod-1',
        env: 'prod',
        app: 'cart',
        version: 12,
        state: 'succeeded',
        deploymentId: 'dep_p',
        fromVersion: 11,
        at: 20,
      }),
      install({
        id: 'i3',
        hostName: 'prod-2',
        env: 'prod',
        app: 'cart',
        version: 12,
        state: 'failed',
        deploymentId: 'dep_p',
        at: 21,
        steps: [step('fetch', 'succeeded', null), step('install', 'failed', 1)],
        logs: [
          {
            step: 'install',
            state: 'failed',
            exitCode: 1,
            durationMs: 1500,
            stdout: 'ok\n',
            stderr,
          },
        ],
      }),
      install({
        id: 'i4',
        hostName: 'prod-1',
        env: 'prod',
        app: 'cart',
        version: 11,
        state: 'succeeded',
        deploymentId: 'dep_p',
        purpose: 'revert',
        fromVersion: 12,
        at: 23,
      }),
      install({
        id: 'i5',
        hostName: 'prod-3',
        env: 'prod',
        app: 'front',
        version: 3,
        state: 'succeeded',
        deploymentId: 'dep_f',
        at: 25,
      }),
      install({
        id: 'i6',
        hostName: 'prod-4',
        env: 'prod',
        app: 'front',
        version: 3,
        state: 'skipped',
        deploymentId: 'dep_f',
        at: 25,
      }),
    ],
    runningConfig: [],
    setPerHost: [],
    notes: [
      note(1, { impact: 'blocker', text: 'payments\ntime out', actions: [] }),
      note(2, { section: 'testing', actions: [action(1, true), action(2, false)] }),
      note(3, { section: 'patch', impact: 'major', fixedBy: { app: 'cart', version: 13 } }),
    ],
    verdicts: [{ app: 'cart', version: 12, verdict: 'passed', by: 'quinn', at: T(10), note: null }],
  };
}

function action(id: number, done: boolean): NoteRecord['actions'][number] {
  return {
    id,
    noteId: 2,
    owner: 'bob',
    text: 'look',
    done,
    createdAt: T(31),
    createdBy: 'qa',
    doneAt: done ? T(32) : null,
    doneBy: done ? 'bob' : null,
  };
}

describe('buildReport', () => {
  const finding: Finding = {
    key: 'warnings/cart/install/npm',
    kind: 'warnings',
    title: 'npm warnings',
    suggestedImpact: 'minor',
    env: 'qa',
    app: 'cart',
    entries: [],
    data: {},
    confirmedBy: null,
  };

  it('answers the report schema, with the findings it is given', () => {
    const report = buildReport(release(), [finding]);
    expect(reportSchema.parse(report)).toEqual(report);
    expect(report.findings).toEqual([finding]);
    expect(report.summary.findings).toBe(1);
    expect(report.bundles.map((b) => [b.app, b.verdict.state, b.verdict.by])).toEqual([
      ['cart', 'passed', 'quinn'],
      ['front', 'pending', null],
    ]);
  });

  it('says what blocked the release, first in the headline', () => {
    const { summary } = buildReport(release(), []);
    expect(summary.blockers).toEqual([
      'cart@12 was rolled back in prod: 1 host failed, more than maxFailures 0',
      'note 1 (blocker, deployment): payments time out',
    ]);
    expect(summary.headline).toBe(
      'blocked: cart@12 was rolled back in prod: 1 host failed, more than maxFailures 0 (and 1 more), 1 open action',
    );
    // Note 1 has no action and no fix; note 2 an open action; note 3 is fixed.
    expect(summary.openNotes).toBe(2);
    expect(summary.openActions).toBe(1);
  });

  it('draws each bundle path in time order, with the lead time to the last environment', () => {
    const { summary } = buildReport(release(), []);
    const cart = summary.paths.find((p) => p.app === 'cart')!;
    expect(cart.stops.map((s) => [s.kind, s.env, s.outcome])).toEqual([
      ['pushed', null, null],
      ['deployed', 'qa', 'succeeded'],
      ['verdict', null, 'passed'],
      ['deployed', 'prod', 'rolled_back'],
    ]);
    expect(cart.leadTimeMs).toBeNull();
    const front = summary.paths.find((p) => p.app === 'front')!;
    // Pushed at minute 1; its partial prod deployment ended at minute 30.
    expect(front.leadTimeMs).toBe(29 * 60_000);
  });

  it('counts hosts per environment: targeted, installed, failed, rolled back, away, running', () => {
    const { summary } = buildReport(release(), []);
    const row = (envName: string, app: string) =>
      summary.tallies.find((t) => t.env === envName && t.app === app);
    expect(row('qa', 'cart')).toMatchObject({ hosts: 1, installed: 1, failed: 0, runningNow: 1 });
    expect(row('prod', 'cart')).toMatchObject({
      hosts: 2,
      installed: 1,
      failed: 1,
      rolledBack: 1,
      away: 0,
      runningNow: 0,
    });
    expect(row('prod', 'front')).toMatchObject({ hosts: 2, installed: 1, away: 1, runningNow: 1 });
    // front never went to qa: no row.
    expect(row('qa', 'front')).toBeUndefined();
  });

  it('counts every tally over the same hosts now, and a failure by the latest install', () => {
    const facts = release();
    const qa = (id: string, hostName: string, state: InstallRecord['state'], at: number) =>
      install({
        id,
        hostName,
        env: 'qa',
        app: 'cart',
        version: 12,
        state,
        deploymentId: 'dep_q',
        at,
      });
    const revoked = { ...host('qa-3', 'qa', 'cart', { cart: 12 }), revokedAt: T(40) };
    const { summary } = buildReport(
      {
        ...facts,
        hosts: [...facts.hosts, host('qa-2', 'qa', 'cart', { cart: 12 }), revoked],
        installs: [
          ...facts.installs,
          // qa-2 failed, then its retry went well.
          qa('i_q2a', 'qa-2', 'failed', 5),
          qa('i_q2b', 'qa-2', 'succeeded', 8),
          // qa-gone took it and was removed since; qa-3 took it and is revoked.
          qa('i_gone', 'qa-gone', 'succeeded', 5),
          qa('i_q3', 'qa-3', 'succeeded', 5),
        ],
      },
      [],
    );
    const row = summary.tallies.find((t) => t.env === 'qa' && t.app === 'cart');
    expect(row).toMatchObject({ hosts: 2, installed: 2, failed: 0, runningNow: 2 });
  });

  it('lists each host installs with a failure: step, exit code, last 20 lines, the logs command', () => {
    const report = buildReport(release(), []);
    const prod = report.environments.find((e) => e.env === 'prod')!;
    expect(prod.deployments.map((d) => d.id)).toEqual(['dep_p', 'dep_f']);
    expect(prod.hosts.map((h) => h.host)).toEqual(['prod-1', 'prod-2', 'prod-3', 'prod-4']);
    const prod1 = prod.hosts[0]!.installs;
    expect(prod1.map((i) => [i.purpose, i.version])).toEqual([
      ['deploy', 12],
      ['revert', 11],
    ]);
    const failed = prod.hosts[1]!.installs[0]!;
    expect(failed.durationMs).toBe(2 * 60_000);
    expect(failed.steps.map((s) => [s.step, s.state, s.exitCode])).toEqual([
      ['fetch', 'succeeded', null],
      ['install', 'failed', 1],
    ]);
    expect(failed.failure).toMatchObject({
      step: 'install',
      exitCode: 1,
      error: 'install exited 1',
      logsCommand: 'ferry logs i3',
    });
    expect(failed.failure!.lastLines).toHaveLength(20);
    expect(failed.failure!.lastLines[0]).toBe('npm ERR! line 11');
    expect(failed.failure!.lastLines[19]).toBe('npm ERR! line 30');
    expect(prod.hosts[0]!.installs[0]!.failure).toBeNull();
  });

  it('quotes stdout when the failed step wrote nothing to stderr', () => {
    const facts = release();
    facts.installs[2]!.logs = [
      {
        step: 'install',
        state: 'failed',
        exitCode: 1,
        durationMs: 1,
        stdout: 'one\ntwo\n',
        stderr: '  \n',
      },
    ];
    const failed = buildReport(facts, []).environments[1]!.hosts[1]!.installs[0]!;
    expect(failed.failure!.lastLines).toEqual(['one', 'two']);
  });

  it('groups notes by section, in the report order, every section present', () => {
    const report = buildReport(release(), []);
    expect(report.notes.map((s) => [s.section, s.notes.map((n) => n.id)])).toEqual([
      ['deployment', [1]],
      ['patch', [3]],
      ['testing', [2]],
      ['misc', []],
    ]);
  });

  it('calls a release smooth when it went everywhere and nothing is open', () => {
    const facts = release();
    facts.deployments = [
      deployment('dep_q', 'cart', 12, 'qa', 'succeeded', 2),
      deployment('dep_p', 'cart', 12, 'prod', 'succeeded', 20),
    ];
    facts.bundles = [facts.bundles[0]!];
    facts.installs = facts.installs.slice(0, 2);
    facts.notes = [note(3, { section: 'patch', fixedBy: { app: 'cart', version: 13 } })];
    expect(buildReport(facts, []).summary.headline).toBe('smooth: nothing blocked');
    facts.deployments[1]!.state = 'running';
    expect(buildReport(facts, [finding]).summary.headline).toBe(
      'in progress: cart@12 to prod under way, 1 finding',
    );
    facts.deployments.pop();
    expect(buildReport(facts, []).summary.headline).toBe(
      'waiting: cart@12 not in prod yet; nothing blocked',
    );
  });
});
