import { access, chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCommandPath } from '../src/agent/run-agent.js';
import type { InstallLogs } from '../src/protocol/api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { parseRequiresCheck } from '../src/protocol/requires-check.js';
import { Cluster } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * A manifest's `requires` on real agents: two qa hosts deployed in one batch.
 * qa-1's command PATH has an old `node` first and no `gunicorn`; qa-2's has
 * the machine's node and a `gunicorn`. qa-1 refuses the install before
 * anything is fetched or run (its install hook and command, which write a file,
 * never ran), naming what it has and what is needed; qa-2 installs and starts
 * the release. Both record what they were checked for and what they have.
 */

const CONFIG = `
environments:
  - name: qa
    autoDeploy: false
    strategy: { batch: 2, maxFailures: 1, rollbackOnFailure: false }
`;

let cluster: Cluster;

/** A folder under the cluster holding `programs`, each printing its line (for `--version`). */
async function bin(name: string, programs: Record<string, string>): Promise<string> {
  const dir = path.join(cluster.work, 'bins', name);
  await mkdir(dir, { recursive: true });
  for (const [program, line] of Object.entries(programs)) {
    await writeFile(path.join(dir, program), `#!/bin/sh\necho '${line}'\n`);
    await chmod(path.join(dir, program), 0o755);
  }
  return dir;
}

beforeAll(async () => {
  const bins = new Map<string, string>();
  cluster = await Cluster.start({
    config: CONFIG,
    agentArgs: (host) => ['--path', `${bins.get(host.name) ?? ''}:${defaultCommandPath()}`],
  });
  bins.set('qa-1', await bin('qa-1', { node: 'v18.19.0' }));
  bins.set('qa-2', await bin('qa-2', { gunicorn: 'gunicorn (version 21.2.0)' }));
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('qa-2', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** The web app, requiring a node of 20 or later and gunicorn, whose install hook and command each append to `<app>/ran`. */
function requiringTree(): Record<string, string> {
  const tree = webAppTree('req');
  return {
    ...tree,
    'ferry.yml': tree['ferry.yml']!.replace(
      '    keepReleases: 5\n',
      [
        '    keepReleases: 5',
        '    requires: { node: ">=20 <99", commands: [gunicorn] }',
        '    hooks: { beforeInstall: ["echo hook >> ../../ran"] }',
        '    install: ["echo install >> ../../ran"]',
        '',
      ].join('\n'),
    ),
  };
}

const appDir = (host: string) => path.join(cluster.host(host).root, 'apps', 'web');
const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe('requires', () => {
  it('refuses a host with an old node and no gunicorn before anything runs there, and installs on the host that has them', async () => {
    const version = await cluster.push(requiringTree(), 'req');
    const deployed = await cluster.ferry(['deploy', `web@${version}`, '--env', 'qa']);
    const id = /\((dep_[0-9a-f]+)\)/.exec(deployed.stdout)?.[1];
    expect(id, `${deployed.stdout}\n${deployed.stderr}`).toBeDefined();
    const deployment = await cluster.json<DeploymentRecord>(['deployment', id!]);
    const installs = Object.fromEntries(deployment.installs.map((i) => [i.host, i]));

    // qa-1: refused in its requires step, naming what it has and what is needed.
    expect(installs['qa-1']?.state).toBe('failed');
    expect(installs['qa-1']?.step).toMatchObject({ step: 'requires', state: 'failed' });
    expect(installs['qa-1']?.error).toBe(
      `node 18.19.0 on qa-1, web needs >=20 <99; command gunicorn not found on PATH of qa-1`,
    );
    // Nothing ran and nothing was fetched there: no hook, no install command, no release, no bundle.
    expect(await exists(path.join(appDir('qa-1'), 'ran'))).toBe(false);
    expect(await exists(path.join(appDir('qa-1'), 'releases', String(version)))).toBe(false);
    const cache = path.join(cluster.host('qa-1').root, 'agent', 'cache');
    expect((await readdir(cache).catch(() => [])).filter((f) => f.endsWith('.tar.gz'))).toEqual([]);

    // qa-2: installed, its hook and command ran once each, and its service answers.
    expect(installs['qa-2']?.state).toBe('succeeded');
    expect(await readFile(path.join(appDir('qa-2'), 'ran'), 'utf8')).toBe('hook\ninstall\n');
    expect(await cluster.health('qa-2')).toMatchObject({ ok: true, version: String(version) });

    // Each host's requires step records what was checked and what the host has.
    const logs = await cluster.json<{ installs: (InstallLogs & { host: string })[] }>([
      'logs',
      id!,
    ]);
    const checked = (host: string) => {
      const install = logs.installs.find((i) => i.host === host)!;
      const steps = install.steps.map((s) => s.step);
      // The first step after prepare: before fetch and every command.
      expect(steps.slice(0, 2)).toEqual(['prepare', 'requires']);
      return parseRequiresCheck(install.steps.find((s) => s.step === 'requires')!.stdout);
    };
    const nodePath = defaultCommandPath();
    expect(checked('qa-1')).toEqual({
      host: 'qa-1',
      path: `${path.join(cluster.work, 'bins', 'qa-1')}:${nodePath}`,
      checks: [
        { kind: 'runtime', name: 'node', needed: '>=20 <99', found: '18.19.0', ok: false },
        { kind: 'command', name: 'gunicorn', needed: 'on PATH', found: null, ok: false },
      ],
    });
    expect(checked('qa-2')).toMatchObject({
      host: 'qa-2',
      checks: [
        {
          kind: 'runtime',
          name: 'node',
          needed: '>=20 <99',
          found: process.versions.node,
          ok: true,
        },
        {
          kind: 'command',
          name: 'gunicorn',
          found: path.join(cluster.work, 'bins', 'qa-2', 'gunicorn'),
          ok: true,
        },
      ],
    });

    // People read the same in `ferry logs`.
    const text = await cluster.ferry(['logs', id!]);
    expect(text.stdout).toMatch(/^node 18\.19\.0, needs >=20 <99 \(NOT MET\)$/m);
    expect(text.stdout).toMatch(/^command gunicorn: not found on PATH \(NOT MET\)$/m);
  }, 120_000);
});
