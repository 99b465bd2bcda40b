#!/usr/bin/env node
// Event latency benchmark: how long after the server records an install step
// does `ferry deployment <id> --follow` print it? Starts a real `ferry server`
// and --hosts agents (qa, batch 1) on this machine; for each of --runs
// deployments of a small web app, starts the follower as a person would, and
// holds the rollout at its first host's health check (the service listens only
// once a gate file exists) until the follower has printed its first lines, so
// that everything after the gate is followed live. For each step event recorded
// after the gate opened, it takes the time from the event's `at` (stamped by the
// server as it records the step, in the same process and right after the step
// is written) to the moment the follower's line for that step reached this
// process through its stdout pipe. Reports the median, p95 and worst.
//
//   node bench/event-latency.mjs --hosts 3 --runs 5 [--verbose] [--keep]
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    /** Name each step shown more than 100 ms after it was recorded. */
    verbose: { type: 'boolean', default: false },
  },
});
const hostCount = Number(values.hosts);
const runs = Number(values.runs);
/** The target (issue 14): each step shown within this long of the server recording it. */
const TARGET_MS = 200;

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-event-latency-'));

/** A web app whose service listens only once `gate` exists. */
function gatedApp(gate, mark) {
  return {
    'ferry.yml': [
      'apps:',
      '  web:',
      '    service:',
      '      command: node server.js',
      `      env: { WEB_PORT: '\${PORT}', WEB_MARK: '${mark}' }`,
      '      stopTimeout: 5s',
      "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 60s, interval: 200ms }",
      '    keepReleases: 3',
      '',
    ].join('\n'),
    'server.js': `import fs from 'node:fs';
import http from 'node:http';
const server = http.createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ ok: true, mark: process.env.WEB_MARK }));
});
const open = () => server.listen(Number(process.env.WEB_PORT), '127.0.0.1');
const wait = () => (fs.existsSync(${JSON.stringify(gate)}) ? open() : setTimeout(wait, 50));
wait();
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  };
}

const cluster = await LocalCluster.start({
  root: work,
  server: { config: 'environments:\n  - { name: qa, strategy: { batch: 1 } }\n' },
});
const token = cluster.server.adminToken;
const env = {
  ...process.env,
  FERRY_SERVER: cluster.url,
  FERRY_CA_FILE: cluster.server.caFile,
  FERRY_TOKEN: token,
  FERRY_CONFIG_DIR: path.join(work, 'cli'),
};

/** Runs the CLI to its end; its stdout, or an error with all it printed. */
function ferry(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_MAIN, ...args], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`ferry ${args.join(' ')}: ${out}${err}`)),
    );
  });
}

/**
 * `ferry deployment <id> --follow`, each line with the time it arrived here.
 * `firstLines` resolves once it has printed its headline and the hosts' lines.
 */
function follow(id, hosts) {
  const child = spawn(process.execPath, [FERRY_MAIN, 'deployment', id, '--follow'], { env });
  const lines = [];
  let buffer = '';
  let shown;
  const firstLines = new Promise((resolve) => (shown = resolve));
  child.stdout.on('data', (chunk) => {
    const at = Date.now();
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      lines.push({ at, text: buffer.slice(0, end) });
      buffer = buffer.slice(end + 1);
    }
    if (lines.length >= 1 + hosts) shown();
  });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const done = new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve(lines)
        : reject(
            new Error(
              `the follower exited ${code}: ${err}\n${lines.map((l) => l.text).join('\n')}`,
            ),
          ),
    ),
  );
  return { firstLines, done };
}

/** Every event of a deployment, replayed from the start until it ends. */
async function eventsOf(id) {
  const events = [];
  await cluster.api.followEvents({ deployment: id }, '0', (event) => {
    events.push(event);
    return !(
      event.kind === 'deployment.state' && !['pending', 'running'].includes(event.data.state)
    );
  });
  return events;
}

/** The percentile `p` (0–100) of sorted numbers, nearest rank. */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

let failed = false;
try {
  for (let i = 1; i <= hostCount; i++) await cluster.addHost({ name: `qa-${i}`, env: 'qa' });
  console.log(`${hostCount} hosts, batch 1; ${runs} deployments followed live\n`);
  const latencies = [];
  for (let r = 1; r <= runs; r++) {
    const gate = path.join(work, `gate-${r}`);
    const source = path.join(work, `src-${r}`);
    await mkdir(source, { recursive: true });
    for (const [name, text] of Object.entries(gatedApp(gate, `run-${r}`)))
      await writeFile(path.join(source, name), text);
    const pushed = JSON.parse(await ferry(['push', source, '--json']));
    const deployment = JSON.parse(
      await ferry(['deploy', `web@${pushed.bundle.version}`, '--env', 'qa', '--detach', '--json']),
    );
    const follower = follow(deployment.id, hostCount);
    await follower.firstLines;
    const gateOpenedAt = Date.now();
    await writeFile(gate, '');
    const lines = await follower.done;
    const events = await eventsOf(deployment.id);
    const printed = new Map();
    for (const { at, text } of lines) {
      const match = /^ {2}(\S+) {2}batch \d+ {2}@\d+ {2}(\S+) (\.\.\.|ok|FAILED)$/.exec(text);
      if (!match) continue;
      const [, host, step, shownState] = match;
      const state = shownState === '...' ? 'running' : shownState === 'ok' ? 'succeeded' : 'failed';
      const key = `${host} ${step} ${state}`;
      if (!printed.has(key)) printed.set(key, at);
    }
    let missing = 0;
    for (const event of events) {
      if (event.kind !== 'install.step' || Date.parse(event.at) < gateOpenedAt) continue;
      const at = printed.get(`${event.data.host} ${event.data.step} ${event.data.state}`);
      if (at === undefined) missing += 1;
      else {
        latencies.push(at - Date.parse(event.at));
        if (values.verbose && at - Date.parse(event.at) > 100)
          console.log(
            `  slow: run ${r} event #${event.id} ${event.data.host} ${event.data.step} ${event.data.state}: ${at - Date.parse(event.at)} ms`,
          );
      }
    }
    if (missing > 0) throw new Error(`run ${r}: ${missing} steps recorded were never printed`);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  const worst = sorted.at(-1);
  console.log('| steps followed | median | p95 | worst |');
  console.log('| -------------- | ------ | --- | ----- |');
  console.log(`| ${sorted.length} | ${median} ms | ${p95} ms | ${worst} ms |`);
  console.log(
    `\ntarget: each step shown within ${TARGET_MS} ms (p95 ${p95 <= TARGET_MS ? 'meets' : 'misses'} it)`,
  );
  if (sorted.length === 0) throw new Error('no step was followed live');
} catch (err) {
  failed = true;
  console.error(err instanceof Error ? err.message : err);
} finally {
  await cluster.stop();
  if (values.keep) console.log(`work folder kept: ${work}`);
  else await rm(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
