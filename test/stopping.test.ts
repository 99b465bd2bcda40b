import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobJournal } from '../src/agent/job-journal.js';
import { defaultCommandPath, runAgent } from '../src/agent/run-agent.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

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
  const response = await harnessFetch(`${cluster.server.url}/api/v1/installs/${id}`, {
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

  it('an install left running when the stop grace expires is never recorded as finished', async () => {
    // An agent in this process, so that the moment between its stop and its exit
    // lasts as long as the test wants: the install goes on past the grace.
    const root = path.join(cluster.work, 'hosts', 'dev-late');
    const gate = path.join(cluster.work, 'late-install-may-finish');
    const servicePid = path.join(cluster.work, 'late-service.pid');
    const agent = await runAgent({
      server: cluster.server.url,
      token: await cluster.token('agent', 'dev'),
      // The server's CA pinned, as a join string would.
      caFingerprint: cluster.server.caFingerprint,
      env: 'dev',
      roles: ['late'],
      root,
      name: 'dev-late',
      vars: {},
      driver: 'builtin',
      path: defaultCommandPath(),
      commandTimeoutMs: 60_000,
      heartbeatMs: 60_000,
      stopGraceMs: 300,
      transport: { kind: 'builtin' },
    });
    const version = await cluster.push(
      {
        'ferry.yml':
          'apps:\n  late:\n    role: late\n' +
          `    install: ["i=0; while [ ! -f ${gate} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"]\n` +
          '    service: { command: node server.js }\n',
        'server.js': `require('fs').writeFileSync(${JSON.stringify(servicePid)}, String(process.pid)); setInterval(() => {}, 1000);\n`,
      },
      'late-1',
    );
    const started = await cluster.ferry([
      'install',
      `late@${version}`,
      '--host',
      'dev-late',
      '--detach',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const id = /(ins_\w+)/.exec(started.stdout)![1]!;
    await waitFor('the install command to run', async () =>
      (await install(id)).steps.some((s) => s.step === 'install' && s.state === 'running')
        ? true
        : undefined,
    );
    await agent.close();
    // Past the grace: the install goes on to start its service.
    await writeFile(gate, '');
    const journal = new JobJournal(path.join(root, 'agent', 'journal'));
    try {
      await waitFor(
        'the install to start its service, or to be recorded as finished',
        async () =>
          (await journal.get(id))?.state === 'finished' ||
          (await readFile(servicePid, 'utf8').catch(() => null))
            ? true
            : undefined,
        20_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // Left as a crash would leave it: the next start resumes it, with no false failure to report.
      expect(await journal.get(id)).toMatchObject({ state: 'running' });
    } finally {
      const pid = Number(await readFile(servicePid, 'utf8').catch(() => '0'));
      if (pid > 0) process.kill(pid, 'SIGKILL');
    }
  }, 120_000);

  it('the server exits within seconds of SIGTERM with an agent connected', async () => {
    if (!cluster.host('dev-1').agent) await cluster.startAgentAgain('dev-1');
    const stopped = await stopTimed(cluster.server.child);
    expect(stopped.ms).toBeLessThan(5000);
    expect(stopped.code).toBe(0);
  }, 60_000);
});
