import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './helpers/cluster.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.addHost('dev-1', 'dev');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Sends SIGTERM and answers how long the process took to exit, and how it exited. */
async function stopTimed(
  child: ChildProcess,
): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }> {
  const started = Date.now();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code, signal } = await exited;
  clearTimeout(killer);
  return { ms: Date.now() - started, code, signal };
}

interface InstallRecord {
  state: string;
  steps: { step: string; state: string }[];
}

async function install(id: string): Promise<InstallRecord> {
  const response = await fetch(`${cluster.server.url}/api/v1/installs/${id}`, {
    headers: { authorization: `Bearer ${cluster.server.adminToken}` },
  });
  return (await response.json()) as InstallRecord;
}

describe('stopping is prompt', () => {
  it('the agent stops within seconds of SIGTERM in the middle of an install, which resumes on its next start', async () => {
    const gate = path.join(cluster.work, 'install-may-finish');
    const pidFile = path.join(cluster.work, 'install-command.pid');
    // The install command waits (a slow `npm ci`) until the gate file exists.
    const version = await cluster.push(
      {
        'ferry.yml':
          'apps:\n  slow:\n    role: web\n' +
          `    install: ["echo $$ > ${pidFile}; i=0; while [ ! -f ${gate} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"]\n` +
          '    service: { command: node server.js }\n',
        'server.js': 'setInterval(() => {}, 1000);\n',
      },
      'slow-1',
    );
    const started = await cluster.ferry([
      'install',
      `slow@${version}`,
      '--host',
      'dev-1',
      '--detach',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const id = /(ins_\w+)/.exec(started.stdout)![1]!;
    await waitFor('the install command to run', async () =>
      (await install(id)).steps.some((s) => s.step === 'install' && s.state === 'running')
        ? true
        : undefined,
    );

    const agent = cluster.host('dev-1').agent!;
    cluster.host('dev-1').agent = undefined;
    const stopped = await stopTimed(agent.child);
    expect(stopped.ms).toBeLessThan(6000);
    expect(stopped.code).toBe(0);
    // The install command did not outlive the agent, to run beside its re-run.
    const commandPid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitFor(
      'the install command to be gone',
      async () => {
        const stat = await readFile(`/proc/${commandPid}/stat`, 'utf8').catch(() => null);
        // PID 1 reaps orphans late: a zombie has exited.
        return stat === null || / Z /.test(stat.slice(stat.lastIndexOf(')'))) ? true : undefined;
      },
      5000,
    );

    await writeFile(gate, '');
    await cluster.startAgentAgain('dev-1');
    const finished = await waitFor('the install to end', async () => {
      const record = await install(id);
      return ['pending', 'queued', 'running'].includes(record.state) ? undefined : record;
    });
    expect(finished.state).toBe('succeeded');
  }, 120_000);

  it('the server exits within seconds of SIGTERM with an agent connected', async () => {
    if (!cluster.host('dev-1').agent) await cluster.startAgentAgain('dev-1');
    const stopped = await stopTimed(cluster.server.child);
    expect(stopped.ms).toBeLessThan(5000);
    expect(stopped.code).toBe(0);
  }, 60_000);
});
