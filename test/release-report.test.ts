import { execFileSync } from 'node:child_process';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCommandPath } from '../src/agent/run-agent.js';
import type { InstallLogs } from '../src/protocol/api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import type { NoteRecord } from '../src/protocol/note-api.js';
import { parseRequiresCheck } from '../src/protocol/requires-check.js';
import {
  driftAnswerSchema,
  type Finding,
  type Report,
  reportSchema,
} from '../src/protocol/report-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { section, sections } from './helpers/markdown-sections.js';
import { backTree, fakeNodeBin, frontTree, mqTree, PG_WARNING } from './helpers/release-apps.js';
import {
  startSupervisord,
  SUPERVISORCTL,
  SUPERVISORD_SUITES_RUN,
  type TestSupervisord,
} from './helpers/supervisord.js';

/**
 * A release played like the seed's, on real processes: front, back and mq
 * pushed with label 0.4.0, deployed to qa (2 hosts) and prod (2 hosts). It
 * carries the seed's problems: qa-2 has an older node (a `node` on its
 * agent's PATH that says v18.19.0); back's migration prints a PostgreSQL
 * WARNING; prod-1 runs its services under supervisord, where mq's program was
 * changed by hand to `redirect_stderr=true`; front fails its health check on
 * prod-2, which goes back to the front it had. Then `ferry report --label
 * 0.4.0`, Markdown and JSON, must hold each of them with its hosts and lines.
 */

const CONFIG = `
environments:
  - name: qa
    strategy: { batch: 2, maxFailures: 0, rollbackOnFailure: true }
  - name: prod
    requires: passed
    strategy: { batch: 1, maxFailures: 1, rollbackOnFailure: false }
`;
const OLD_NODE = '18.19.0';
const APPS = ['front', 'back', 'mq'] as const;

let cluster: Cluster;
let supervisor: TestSupervisord | undefined;
/** The 0.4.0 version of each app, and front's 0.3.0 that prod-2 goes back to. */
const versions: Record<string, number> = {};
let oldFront: number;
/** The deployments of the release, by `<app>/<env>`. */
const deployments: Record<string, DeploymentRecord> = {};

async function deploy(app: string, env: string): Promise<DeploymentRecord> {
  const result = await cluster.ferry(['deploy', `${app}@${versions[app]}`, '--env', env]);
  const id = /\((dep_[0-9a-f]+)\)/.exec(result.stdout)?.[1];
  expect(id, `${result.stdout}\n${result.stderr}`).toBeDefined();
  const record = await cluster.json<DeploymentRecord>(['deployment', id!]);
  deployments[`${app}/${env}`] = record;
  return record;
}

/** Changes prod-1's mq program as someone editing it by hand would, and has supervisord load it. */
async function mergeMqOutputs(): Promise<void> {
  const file = path.join(supervisor!.include, 'ferry-mq.conf');
  const section = await readFile(file, 'utf8');
  expect(section).toContain('redirect_stderr=false\n');
  await writeFile(file, section.replace('redirect_stderr=false', 'redirect_stderr=true'));
  const status = () =>
    execFileSync(SUPERVISORCTL, ['-c', supervisor!.config, 'status', 'ferry-mq'], {
      encoding: 'utf8',
    });
  const before = /pid (\d+)/.exec(status())?.[1];
  execFileSync(SUPERVISORCTL, ['-c', supervisor!.config, 'update', 'ferry-mq']);
  await waitFor('mq running again under its changed program', () => {
    const pid = /RUNNING\s+pid (\d+)/.exec(status())?.[1];
    return Promise.resolve(pid !== undefined && pid !== before ? pid : undefined);
  });
}

describe.skipIf(!SUPERVISORD_SUITES_RUN)('the release report of a release like the seed', () => {
  beforeAll(async () => {
    const bins = new Map<string, string>();
    cluster = await Cluster.start({
      config: CONFIG,
      agentArgs: ({ name }) => [
        '--path',
        [bins.get(name), defaultCommandPath()].filter(Boolean).join(':'),
        ...(name === 'prod-1'
          ? [
              '--driver',
              'supervisord',
              '--supervisord-config',
              supervisor!.config,
              '--supervisord-include',
              supervisor!.include,
            ]
          : []),
      ],
    });
    supervisor = await startSupervisord(path.join(cluster.work, 'supervisor'));
    bins.set('qa-2', await fakeNodeBin(path.join(cluster.work, 'bins', 'qa-2'), `v${OLD_NODE}`));
    const roles = (name: string) => (name.endsWith('-1') ? ['web', 'mq'] : ['web']);
    await Promise.all(
      ['qa-1', 'qa-2', 'prod-1', 'prod-2'].map((name) =>
        cluster.addHost(name, name.split('-')[0]!, {
          roles: roles(name),
          vars: { BREAK: name === 'prod-2' ? 'yes' : 'no' },
        }),
      ),
    );

    // prod-2 already runs an earlier front, which it goes back to.
    oldFront = await cluster.push(frontTree(), '0.3.0');
    const installed = await cluster.ferry(['install', `front@${oldFront}`, '--host', 'prod-2']);
    expect(installed.code, `${installed.stdout}${installed.stderr}`).toBe(0);

    const trees = { front: frontTree({ breakable: true }), back: backTree(), mq: mqTree() };
    for (const app of APPS) {
      versions[app] = await cluster.push(trees[app], '0.4.0', { dir: `0.4.0-${app}` });
    }
    for (const app of APPS) {
      expect((await deploy(app, 'qa')).state).toBe('succeeded');
      const marked = await cluster.ferry(['mark', `${app}@${versions[app]}`, 'passed']);
      expect(marked.code, marked.stderr).toBe(0);
    }
    // mq first, and its program changed before the others are installed on prod-1:
    // the facts prod-1 reports after those installs see it.
    expect((await deploy('mq', 'prod')).state).toBe('succeeded');
    await mergeMqOutputs();
    expect((await deploy('back', 'prod')).state).toBe('succeeded');
    await deploy('front', 'prod');
  }, 180_000);

  afterAll(async () => {
    await supervisor?.stop();
    await cluster?.close();
  });

  it('plays the release: the install that rolled back, the WARNING, the old node, the merged outputs', async () => {
    // front failed its health check on prod-2, which went back to the front it had.
    const front = deployments['front/prod']!;
    const prod2 = front.installs.find((i) => i.host === 'prod-2')!;
    expect(prod2).toMatchObject({ state: 'failed', rolledBack: true, fromVersion: oldFront });
    expect(prod2.error).toMatch(/^health check failed: HTTP 503/);
    expect(front.installs.find((i) => i.host === 'prod-1')?.state).toBe('succeeded');
    expect(front.state).toBe('partial');
    const frontLogs = await cluster.json<{ installs: (InstallLogs & { host: string })[] }>([
      'logs',
      front.id,
    ]);
    const prod2Steps = frontLogs.installs.find((i) => i.host === 'prod-2')!.steps;
    expect(prod2Steps.find((s) => s.step === 'health')?.state).toBe('failed');
    expect(prod2Steps.find((s) => s.step === 'rollback')?.state).toBe('succeeded');
    expect(await readlink(path.join(cluster.host('prod-2').root, 'apps', 'front', 'current'))).toBe(
      `releases/${oldFront}`,
    );

    // back's migration ran once per environment, and its stdout holds the WARNING line.
    for (const env of ['qa', 'prod']) {
      const id = deployments[`back/${env}`]!.id;
      const logs = await cluster.json<{ installs: (InstallLogs & { host: string })[] }>([
        'logs',
        id,
      ]);
      const migrated = logs.installs.filter((i) => i.steps.some((s) => s.step === 'migrate'));
      expect(migrated.map((i) => i.host)).toEqual([`${env}-1`]);
      const migrate = migrated[0]!.steps.find((s) => s.step === 'migrate')!;
      expect(migrate.stdout.split('\n')).toContain(PG_WARNING);
      if (env === 'qa') {
        // qa-2's requires step saw the old node, and let it pass (back needs >=18).
        const qa2 = logs.installs.find((i) => i.host === 'qa-2')!;
        const check = parseRequiresCheck(qa2.steps.find((s) => s.step === 'requires')!.stdout);
        expect(check?.checks).toEqual([
          { kind: 'runtime', name: 'node', needed: '>=18', found: OLD_NODE, ok: true },
        ]);
      }
    }

    // qa-2's facts say its node is the old one (and qa-1's the machine's); prod-1's that mq's outputs are merged.
    const api = cluster.api();
    expect((await api.hostFacts('qa-2')).facts?.runtimes.node).toBe(OLD_NODE);
    expect((await api.hostFacts('qa-1')).facts?.runtimes.node).toBe(process.versions.node);
    const apps = await waitFor('prod-1 facts of running services', async () => {
      const facts = (await api.hostFacts('prod-1')).facts?.apps;
      return facts?.mq?.service?.running && facts.back?.service?.running ? facts : undefined;
    });
    expect(apps.mq?.service?.mergedOutput).toBe(true);
    expect(apps.back?.service?.mergedOutput).toBe(false);

    // `ferry drift` on its own says the same of qa's node.
    const drift = driftAnswerSchema.parse(await cluster.json<unknown>(['drift', '--env', 'qa']));
    expect(drift.drift.filter((d) => d.aspect === 'runtime' && d.name === 'node')).toEqual([
      expect.objectContaining({
        env: 'qa',
        values: expect.arrayContaining([
          { value: OLD_NODE, hosts: ['qa-2'] },
          { value: process.versions.node, hosts: ['qa-1'] },
        ]),
      }),
    ]);
  });

  it('ferry report --label 0.4.0 --format md holds each problem as a finding, with its hosts and lines', async () => {
    const result = await cluster.ferry(['report', '--label', '0.4.0', '--format', 'md']);
    expect(result.code, result.stderr).toBe(0);
    const md = result.stdout;
    for (const app of APPS) expect(md).toContain(`${app}@${versions[app]}`);

    // Each finding is a section of its own under "## Findings".
    const findings = sections(section(md, 2, 'Findings'), 3);
    const findingWith = (...parts: (string | RegExp)[]) =>
      findings.filter((f) =>
        parts.every((p) => (typeof p === 'string' ? f.includes(p) : p.test(f))),
      );
    // back's migration WARNING, quoted as it was, on the host it ran on in each environment.
    expect(findingWith(PG_WARNING, 'qa-1'), md).not.toEqual([]);
    expect(findingWith(PG_WARNING, 'prod-1'), md).not.toEqual([]);
    // node in qa: qa-2's old one beside the machine's.
    expect(findingWith(/node/, OLD_NODE, 'qa-2', process.versions.node, 'qa-1'), md).not.toEqual(
      [],
    );
    // mq's stdout and stderr in one place on prod-1.
    expect(findingWith('mq', 'prod-1', /stderr/i), md).not.toEqual([]);

    // front's failed install on prod-2: rolled back, its step, and the command that shows its log.
    const failed = deployments['front/prod']!.installs.find((i) => i.host === 'prod-2')!;
    const prod = section(section(md, 2, 'Environments'), 3, 'prod');
    const prod2 = section(prod, 4, 'prod-2');
    expect(prod2, md).toContain(`ferry logs ${failed.id}`);
    expect(prod2).toMatch(/rolled back/);
    expect(prod2).toMatch(/health/);
  });

  it('ferry report --label 0.4.0 --json has them as structured data', async () => {
    const report: Report = reportSchema.parse(
      await cluster.json<unknown>(['report', '--label', '0.4.0']),
    );
    expect(report.subject).toEqual({ kind: 'label', label: '0.4.0' });
    expect(report.bundles.map((b) => `${b.app}@${b.version}`).sort()).toEqual(
      APPS.map((app) => `${app}@${versions[app]}`).sort(),
    );
    const all = JSON.stringify(report.findings, null, 2);
    const findings = (kind: Finding['kind']) => report.findings.filter((f) => f.kind === kind);

    // Warnings in back's migrate step: on the host it ran on in each environment, the line quoted.
    const warnings = findings('warnings').filter((f) => f.app === 'back');
    const quoted = warnings.flatMap((f) =>
      f.entries.filter((e) => e.quote === PG_WARNING).map((e) => `${f.env}/${e.host}`),
    );
    expect(quoted.sort(), all).toEqual(['prod/prod-1', 'qa/qa-1']);
    for (const f of warnings) expect(f.data.steps).toContain('migrate');

    // Drift in qa on node, with both values and the host of each.
    const node = findings('drift').filter((f) => f.env === 'qa' && f.data.name === 'node');
    expect(node, all).toHaveLength(1);
    expect(node[0]!.data).toMatchObject({ aspect: 'runtime', name: 'node' });
    expect(node[0]!.data.values).toEqual(
      expect.arrayContaining([
        { value: OLD_NODE, hosts: ['qa-2'] },
        { value: process.versions.node, hosts: ['qa-1'] },
      ]),
    );
    expect(node[0]!.entries.map((e) => e.host)).toContain('qa-2');
    // And in prod, prod-2 still on the front it went back to.
    const release = findings('drift').filter(
      (f) => f.env === 'prod' && f.data.aspect === 'release',
    );
    expect(
      release.filter((f) => f.app === 'front'),
      all,
    ).toHaveLength(1);
    expect(release.find((f) => f.app === 'front')!.data.values).toEqual(
      expect.arrayContaining([{ value: String(oldFront), hosts: ['prod-2'] }]),
    );

    // Log hygiene: mq's stdout and stderr in one place on prod-1, and no other service's.
    const hygiene = findings('log-hygiene');
    expect(
      hygiene.flatMap((f) => f.entries.map((e) => `${f.app}/${e.host}`)),
      all,
    ).toEqual(['mq/prod-1']);

    // front's failed install on prod-2: rolled back, its step, its log command; counted in the summary.
    const failed = deployments['front/prod']!.installs.find((i) => i.host === 'prod-2')!;
    const prod = report.environments.find((e) => e.env === 'prod')!;
    const install = prod.hosts
      .find((h) => h.host === 'prod-2')
      ?.installs.find((i) => i.id === failed.id);
    expect(install).toMatchObject({
      app: 'front',
      version: versions.front,
      state: 'failed',
      rolledBack: true,
      fromVersion: oldFront,
      failure: { step: 'health', logsCommand: `ferry logs ${failed.id}` },
    });
    expect(report.summary.tallies).toContainEqual(
      expect.objectContaining({ env: 'prod', app: 'front', failed: 1, rolledBack: 1 }),
    );
  });

  it('a finding confirmed with another impact becomes a note, and the report shows it confirmed', async () => {
    const before = reportSchema.parse(await cluster.json<unknown>(['report', '--label', '0.4.0']));
    const warning = before.findings.find((f) => f.kind === 'warnings' && f.app === 'back')!;
    expect(warning.confirmedBy).toBeNull();

    const note = await cluster.json<NoteRecord>([
      'note',
      'add',
      '--label',
      '0.4.0',
      '--finding',
      warning.key,
      '--impact',
      'major',
    ]);
    // No text given: the note says what the finding says.
    expect(note).toMatchObject({
      finding: warning.key,
      impact: 'major',
      section: 'deployment',
      text: warning.title,
    });

    const after = reportSchema.parse(await cluster.json<unknown>(['report', '--label', '0.4.0']));
    expect(after.findings.find((f) => f.key === warning.key)!.confirmedBy).toEqual({
      noteId: note.id,
      impact: 'major',
    });
    const deploymentIssues = after.notes.find((n) => n.section === 'deployment')!.notes;
    expect(deploymentIssues.map((n) => n.id)).toContain(note.id);
    const md = (await cluster.ferry(['report', '--label', '0.4.0', '--format', 'md'])).stdout;
    expect(section(md, 2, 'Findings')).toContain(`confirmed: major (note #${note.id})`);

    // A key the report does not have is refused, and nothing is added.
    const unknown = await cluster.ferry([
      'note',
      'add',
      '--label',
      '0.4.0',
      '--finding',
      'warnings/back/qa/no-such-pattern',
      '--impact',
      'minor',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('[E_FINDING_NOT_FOUND]');
    const notes = await cluster.json<NoteRecord[]>(['note', 'list', '--label', '0.4.0']);
    expect(notes.filter((n) => n.finding !== null).map((n) => n.id)).toEqual([note.id]);
  });
});
