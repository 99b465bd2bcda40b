import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../src/agent/install/python-wheel-fixture.js';
import type { InstallLogs } from '../src/protocol/api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster } from './helpers/cluster.js';
import { makeTree } from './helpers/source-tree.js';

/**
 * A `runtime: python` app on a real agent: its service imports a dependency
 * that only a wheel in its own bundle provides (the test builds it; this
 * machine reaches no package index), from a virtualenv of its release. The
 * second release, with the same requirements.txt, reuses the first's
 * virtualenv as a copy of its own; a rollback goes back to the first's.
 */

const CONFIG = `
environments:
  - name: qa
    autoDeploy: false
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false }
`;

/** Answers /health with the release, the dependency's greeting and the interpreter's venv. */
const APP_PY = `
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
import ferrydep

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "ok": True,
            "version": os.environ["FERRY_VERSION"],
            "mark": os.environ["WEB_MARK"],
            "greeting": ferrydep.GREETING,
            "prefix": sys.prefix,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["WEB_PORT"])), Health).serve_forever()
`;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa', { roles: ['pyweb'] });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Pushes the app, marked `mark`, needing ferrydep `dep` from its own wheel; answers the version. */
async function pushPython(mark: string, dep: string): Promise<number> {
  const dir = await makeTree(
    {
      'ferry.yml': [
        'apps:',
        '  pyweb:',
        '    runtime: python',
        '    service:',
        '      command: python app.py',
        `      env: { WEB_PORT: '\${PORT}', WEB_MARK: '${mark}' }`,
        '      stopTimeout: 5s',
        "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 60s, interval: 200ms }",
        '',
      ].join('\n'),
      'app.py': APP_PY,
      'requirements.txt': `ferrydep==${dep}\n`,
    },
    path.join(cluster.work, 'src', mark),
  );
  // One wheel per version, copied into each push: a rebuilt one differs (zip times), and reuse hashes wheels.
  const built = path.join(cluster.work, 'built-wheels', dep);
  const wheel =
    (await readdir(built).catch(() => []))[0] ?? (await buildWheel(built, 'ferrydep', dep));
  await mkdir(path.join(dir, 'wheels'), { recursive: true });
  await copyFile(path.join(built, wheel), path.join(dir, 'wheels', wheel));
  const pushed = await cluster.ferry(['push', dir, '--label', mark]);
  expect(pushed.code, pushed.stderr).toBe(0);
  return Number(/^pyweb@(\d+)$/m.exec(pushed.stdout)![1]);
}

/** Runs `ferry <command>` to the end and answers its deployment's install step's output on qa-1. */
async function deployed(args: string[]): Promise<string> {
  const ran = await cluster.ferry(args);
  const id = /\((dep_[0-9a-f]+)\)/.exec(ran.stdout)?.[1];
  expect(id, `${ran.stdout}\n${ran.stderr}\n${cluster.logs()}`).toBeDefined();
  const deployment = await cluster.json<DeploymentRecord>(['deployment', id!]);
  expect(deployment.installs[0]?.state, `${ran.stdout}\n${ran.stderr}`).toBe('succeeded');
  const logs = await cluster.json<{ installs: (InstallLogs & { host: string })[] }>(['logs', id!]);
  const steps = logs.installs[0]!.steps;
  return steps
    .filter((s) => s.step === 'install' || s.step === 'reuse')
    .map((s) => s.stdout)
    .join('');
}

/** What the app answers on qa-1's port. */
async function answer(): Promise<Record<string, string>> {
  const response = await fetch(`http://127.0.0.1:${cluster.host('qa-1').port}/health`);
  return (await response.json()) as Record<string, string>;
}

describe('a runtime: python app', () => {
  it('installs into a virtualenv per release from its own wheels, runs, reuses it when requirements.txt is unchanged, and rolls back', async () => {
    const releases = path.join(cluster.host('qa-1').root, 'apps', 'pyweb', 'releases');
    const v1 = await pushPython('one', '1.0');
    const first = await deployed(['deploy', `pyweb@${v1}`, '--env', 'qa']);
    expect(first).toContain('--no-index --find-links wheels -r requirements.txt');
    expect(await answer()).toMatchObject({
      version: String(v1),
      greeting: 'hello from ferrydep 1.0',
      prefix: path.join(releases, String(v1), '.venv'),
    });

    const v2 = await pushPython('two', '1.0');
    const second = await deployed(['deploy', `pyweb@${v2}`, '--env', 'qa']);
    expect(second).toContain(`reused .venv from releases/${v1}: requirements.txt unchanged`);
    expect(second).not.toContain('pip install');
    expect(await answer()).toMatchObject({
      version: String(v2),
      mark: 'two',
      greeting: 'hello from ferrydep 1.0',
      prefix: path.join(releases, String(v2), '.venv'),
    });

    const back = await deployed(['rollback', 'pyweb', '--env', 'qa', '--to', String(v1)]);
    expect(back).toContain(`releases/${v1} is on this host`);
    expect(await answer()).toMatchObject({
      version: String(v1),
      mark: 'one',
      prefix: path.join(releases, String(v1), '.venv'),
    });
  }, 600_000);
});
