#!/usr/bin/env node
// Installs that reuse: starts a real `ferry server` and one agent on this machine,
// and deploys an app with robot-shop cart's npm dependencies (from the npm
// registry) --runs times over: each round deploys a release whose code changed
// and whose package-lock.json did not, once with `reuseDependencies: false` (a
// real `npm ci`, the npm cache warm: what every release cost before) and once as
// the manifest says by default (node_modules copied from the current release).
// It reports each install step's duration, and the first, cold install's.
//
//   node bench/install-reuse-bench.mjs --runs 3
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';
import { harnessFetch } from '../dist/dev/harness-trust.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);

// robot-shop's cart (instana/robot-shop, cart/package.json) less @instana/collector,
// whose native parts build from source on a machine without its prebuilt binaries.
const DEPENDENCIES = {
  'body-parser': '^1.18.1',
  express: '^4.15.4',
  redis: '^2.8.0',
  request: '^2.83.0',
  pino: '^5.10.8',
  'express-pino-logger': '^4.0.0',
  'pino-pretty': '^2.5.0',
  'prom-client': '^11.5.3',
};

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-reuse-bench-'));
const source = path.join(work, 'src');

function spawnRun(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The app's source: a server that loads its dependencies, `round` in its answer. */
async function writeApp(round, reuse) {
  await mkdir(source, { recursive: true });
  await writeFile(
    path.join(source, 'ferry.yml'),
    [
      'apps:',
      '  cart:',
      '    exclude: [node_modules]',
      '    install: [npm ci --omit=dev --no-audit --no-fund]',
      ...(reuse ? [] : ['    reuseDependencies: false']),
      '    service:',
      '      command: node server.js',
      "      env: { CART_PORT: '${PORT}' }",
      '      stopTimeout: 5s',
      "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 60s, interval: 200ms }",
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(source, 'server.js'),
    [
      "const express = require('express');",
      "require('redis'); require('request'); require('pino'); require('prom-client');",
      'const app = express();',
      `app.get('/health', (req, res) => res.json({ ok: true, round: ${round} }));`,
      'app.listen(Number(process.env.CART_PORT), "127.0.0.1");',
      '',
    ].join('\n'),
  );
}

const cluster = await LocalCluster.start({
  root: path.join(work, 'cluster'),
  server: { config: 'environments:\n  - name: prod\n    strategy: { batch: 1, maxFailures: 0 }\n' },
});
const { url } = cluster;
const token = cluster.server.adminToken;
const env = {
  ...process.env,
  FERRY_SERVER: url,
  FERRY_CA_FILE: cluster.server.caFile,
  FERRY_TOKEN: token,
  FERRY_CONFIG_DIR: path.join(work, 'cli'),
};
const ferry = async (args) => {
  const result = await spawnRun(process.execPath, [FERRY_MAIN, ...args, '--json'], { env });
  if (result.code !== 0) throw new Error(`ferry ${args.join(' ')}: ${result.output}`);
  return JSON.parse(result.output);
};

/** Pushes and deploys the source; answers the install step's duration and its first line. */
async function deploy(label) {
  const pushed = await ferry(['push', source, '--label', label]);
  const deployment = await ferry(['deploy', `cart@${pushed.bundle.version}`, '--env', 'prod']);
  if (deployment.state !== 'succeeded') throw new Error(`${label}: ${deployment.state}`);
  const record = await harnessFetch(`${url}/api/v1/installs/${deployment.installs[0].id}`, {
    headers: { authorization: `Bearer ${token}` },
  }).then((res) => res.json());
  const step = record.steps.find((s) => s.step === 'install');
  const logs = await ferry(['logs', deployment.installs[0].id]);
  const stdout = logs.steps?.find((s) => s.step === 'install')?.stdout ?? '';
  return { ms: step.durationMs, said: stdout.split('\n')[0] };
}

const rows = [];
try {
  await cluster.addHost({ name: 'prod-1', env: 'prod', roles: ['cart'] });
  await mkdir(source, { recursive: true });
  await writeFile(
    path.join(source, 'package.json'),
    JSON.stringify(
      { name: 'cart', version: '1.0.0', private: true, dependencies: DEPENDENCIES },
      null,
      2,
    ),
  );
  const locked = await spawnRun(
    'npm',
    ['install', '--package-lock-only', '--no-audit', '--no-fund'],
    {
      cwd: source,
      env: process.env,
    },
  );
  if (locked.code !== 0) throw new Error(`npm install --package-lock-only: ${locked.output}`);

  await writeApp(0, true);
  const cold = await deploy('cold');
  rows.push({ round: 0, kind: 'first install (npm cache cold)', ...cold });
  for (let round = 1; round <= runs; round++) {
    await writeApp(round, false);
    rows.push({ round, kind: 'reuse off: npm ci (cache warm)', ...(await deploy(`off-${round}`)) });
    await writeApp(round, true);
    rows.push({ round, kind: 'reuse on: lockfile unchanged', ...(await deploy(`on-${round}`)) });
  }
} finally {
  await cluster.stop();
}

console.log('| round | install | install step | its first line |');
console.log('| ----- | ------- | ------------ | -------------- |');
for (const row of rows)
  console.log(`| ${row.round} | ${row.kind} | ${(row.ms / 1000).toFixed(2)} s | ${row.said} |`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const off = median(rows.filter((r) => r.kind.startsWith('reuse off')).map((r) => r.ms));
const on = median(rows.filter((r) => r.kind.startsWith('reuse on')).map((r) => r.ms));
console.log(
  `\nmedian install step: ${(off / 1000).toFixed(2)} s with npm ci, ${(on / 1000).toFixed(2)} s reused (target: under 2 s)`,
);
if (!values.keep) await rm(work, { recursive: true, force: true });
// What fails the run is a reuse that did not happen (or one that should not have): the
// duration is a figure, read on a machine whose load varies.
const wrong = rows.filter(
  (r) => r.kind.startsWith('reuse on') !== r.said.startsWith('reused node_modules'),
);
if (wrong.length > 0) {
  console.error(`wrong installs: ${JSON.stringify(wrong)}`);
  process.exitCode = 1;
}
