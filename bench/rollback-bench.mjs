#!/usr/bin/env node
// Rollback benchmark: starts a real `ferry server` and --hosts agents (prod, batch
// 1) on this machine, deploys the example app (examples/hello, with its real npm
// install) twice, then rolls prod back --runs times between the two versions.
// For each rollback it reports, per host, the time from the `switch` step's start
// to the `start` step's end (the symlink flip and the restart), the `health`
// step, and the whole install; the time spent between steps (from a step's end,
// as the agent measured it, to the next one's start: both stamped by the agent);
// how late a step's end reached the server (its record's finishedAt, stamped on
// arrival, less the agent's start plus duration; the median of the install's
// steps); and the rollout's wall time.
//
//   node bench/rollback-bench.mjs --hosts 3 --runs 3
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';
import { harnessFetch } from '../dist/dev/harness-trust.js';

const EXAMPLE = fileURLToPath(new URL('../examples/hello', import.meta.url));
const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const hostCount = Number(values.hosts);
const runs = Number(values.runs);

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-rollback-bench-'));

function run(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_MAIN, ...args], {
      env: { ...process.env, FERRY_SERVER: '', FERRY_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

// The server and the agents, through the local-cluster harness: each ready once
// the API says so (the server healthy, the host listed connected).
const cluster = await LocalCluster.start({
  root: work,
  server: { config: 'environments:\n  - name: prod\n    strategy: { batch: 1, maxFailures: 0 }\n' },
});
const { url } = cluster;
const token = cluster.server.adminToken;
const env = {
  FERRY_SERVER: url,
  FERRY_CA_FILE: cluster.server.caFile,
  FERRY_TOKEN: token,
  FERRY_CONFIG_DIR: path.join(work, 'cli'),
};
const ferry = async (args) => {
  const result = await run(args, env);
  if (result.code !== 0 && !args.includes('--allow-fail'))
    throw new Error(`ferry ${args.join(' ')}: ${result.output}`);
  return result.output;
};
const json = async (args) => JSON.parse(await ferry([...args, '--json']));

/**
 * From an install's step records: the sum of the gaps between one step's end
 * and the next one's start (agent clock), and the median time from a step's
 * end on the agent to its record on the server.
 */
function gapsOf(steps) {
  const ordered = steps
    .filter((s) => s.startedAt && s.durationMs !== null && s.durationMs !== undefined)
    .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  let betweenMs = 0;
  for (let i = 1; i < ordered.length; i++) {
    const end = Date.parse(ordered[i - 1].startedAt) + ordered[i - 1].durationMs;
    betweenMs += Math.max(0, Date.parse(ordered[i].startedAt) - end);
  }
  const lags = ordered
    .filter((s) => s.finishedAt)
    .map((s) => Date.parse(s.finishedAt) - (Date.parse(s.startedAt) + s.durationMs))
    .sort((a, b) => a - b);
  return { betweenMs, reportLagMs: lags[Math.floor(lags.length / 2)] ?? NaN };
}

let worst = Infinity;
try {
  for (let i = 1; i <= hostCount; i++) {
    await cluster.addHost({ name: `prod-${i}`, env: 'prod', roles: ['hello'] });
  }

  const source = path.join(work, 'src');
  await cp(EXAMPLE, source, { recursive: true });
  const deploy = async (label) => {
    const pushed = await json(['push', source, '--label', label]);
    const version = pushed.bundle.version;
    await json(['deploy', `hello@${version}`, '--env', 'prod']);
    return version;
  };
  const v1 = await deploy('1.0.0');
  await writeFile(
    path.join(source, 'server.js'),
    (await readFile(path.join(source, 'server.js'), 'utf8')).replace('hello from', 'hi from'),
  );
  const v2 = await deploy('1.1.0');
  console.log(
    `${hostCount} hosts, batch 1; example app hello@${v1} and hello@${v2} on every host; ${runs} rollbacks\n`,
  );

  const rows = [];
  for (let r = 1; r <= runs; r++) {
    const to = r % 2 === 1 ? v1 : v2;
    const startedAt = Date.now();
    // The example app migrates on each deployment; going back over that asks for --yes.
    const deployment = await json([
      'rollback',
      'hello',
      '--env',
      'prod',
      '--to',
      String(to),
      '--yes',
    ]);
    const wallMs = Date.now() - startedAt;
    if (deployment.state !== 'succeeded') throw new Error(`rollback ${r}: ${deployment.state}`);
    for (const install of deployment.installs) {
      const record = await json(['logs', install.id]).then(() =>
        harnessFetch(`${url}/api/v1/installs/${install.id}`, {
          headers: { authorization: `Bearer ${token}` },
        }).then((res) => res.json()),
      );
      const step = (name) => record.steps.find((s) => s.step === name);
      const names = record.steps.map((s) => s.step);
      if (names.includes('fetch') || names.includes('install'))
        throw new Error(`${install.host} fetched or installed during a rollback: ${names}`);
      rows.push({
        run: r,
        to,
        host: install.host,
        switchToStartedMs:
          Date.parse(step('start').finishedAt) - Date.parse(step('switch').startedAt),
        healthMs: step('health').durationMs,
        ...gapsOf(record.steps),
        installMs: Date.parse(record.finishedAt) - Date.parse(record.startedAt),
        wallMs,
      });
    }
  }

  console.log(
    '| rollback | to | host | switch → started | health | between steps | end reported after | whole install | rollout wall |',
  );
  console.log(
    '| -------- | -- | ---- | ---------------- | ------ | ------------- | ------------------ | ------------- | ------------ |',
  );
  for (const row of rows) {
    console.log(
      `| ${row.run} | @${row.to} | ${row.host} | ${row.switchToStartedMs} ms | ${row.healthMs} ms | ${row.betweenMs} ms | ${row.reportLagMs} ms | ${row.installMs} ms | ${(row.wallMs / 1000).toFixed(1)} s |`,
    );
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(
    `\nmedians: between steps ${median(rows.map((r) => r.betweenMs))} ms, end reported after ${median(rows.map((r) => r.reportLagMs))} ms, health ${median(rows.map((r) => r.healthMs))} ms, whole install ${median(rows.map((r) => r.installMs))} ms`,
  );
  worst = Math.max(...rows.map((r) => r.switchToStartedMs));
  console.log(
    `\nslowest switch → started: ${worst} ms (target: under 2000 ms per host, plus the health check)`,
  );
} finally {
  // The agents, the services they started, then the server.
  await cluster.stop();
}
if (!values.keep) await rm(work, { recursive: true, force: true });
if (worst >= 2000) process.exitCode = 1;
