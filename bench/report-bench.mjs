#!/usr/bin/env node
// Release report benchmark: how long does `GET /api/v1/report?label=` take for
// a release of 3 apps over 50 hosts? Seeds a SQLite store through the store
// API (no agents): 3 apps pushed with one label, 50 hosts (qa 10, prod 40)
// running all three, a deployment of each app to qa and to prod with one
// install per host, each install with the steps an agent reports and some kB
// of npm output with a few warnings; one host in ten also has a failed install
// and a catch-up; host facts, configuration snapshots, verdicts and notes with
// actions. Then starts a real `ferry server` on that data and times the report
// over real HTTP (the median of --runs, after a warm-up), and, in this process
// on the same file, the split between gathering the facts and building the
// report.
//
//   npm run build && node bench/report-bench.mjs [--runs 10] [--keep]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { LocalServer } from '../dist/dev/local-server.js';
import { hostFactsSchema } from '../dist/protocol/host-facts.js';
import { environmentsSchema } from '../dist/server/environment-config.js';
import { buildReport } from '../dist/server/reports/build-report.js';
import { gatherReportFacts } from '../dist/server/reports/gather-report-facts.js';
import { SqliteStore } from '../dist/store/sqlite/sqlite-store.js';
import { harnessFetch } from '../dist/dev/harness-trust.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
/** The target (issue 15): a report of a release across 50 hosts in under a second. */
const TARGET_MS = 1000;
const LABEL = '0.4.0';
const APPS = ['front', 'back', 'mq'];
const STEPS = [
  'fetch',
  'verify',
  'unpack',
  'link-shared',
  'install',
  'migrate',
  'switch',
  'start',
  'health',
];
const CONFIG = `environments:
  - { name: qa }
  - { name: prod, requires: passed }
`;

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-report-bench-'));
const data = path.join(work, 'data');

/** About 4 kB of `npm ci` output with a few warnings, as an install step prints it. */
function npmOutput(app, host) {
  const lines = [];
  for (let i = 0; i < 40; i++)
    lines.push(
      `added package-${i}@1.${i}.0 from registry in ${app} on ${host} (resolved, integrity ok)`,
    );
  lines.splice(
    5,
    0,
    'npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory.',
  );
  lines.splice(
    20,
    0,
    'npm WARN deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported',
  );
  lines.push(
    'added 412 packages, and audited 413 packages in 6s',
    '3 moderate severity vulnerabilities',
  );
  return `${lines.join('\n')}\n`;
}

let clock = Date.parse('2026-11-01T08:00:00.000Z');
const tick = (ms = 1000) => new Date((clock += ms)).toISOString();

async function seed(file) {
  const store = SqliteStore.open(file);
  await store.migrate();
  await store.environments.sync(['qa', 'prod']);
  for (const app of APPS) {
    await store.bundles.record(
      {
        app,
        sha256: randomBytes(32).toString('hex'),
        size: 2_000_000,
        label: LABEL,
        commit: 'abc1234',
        dirty: false,
        fileCount: 120,
        createdAt: tick(),
        pushedBy: 'dev',
        manifest: {
          role: app,
          install: ['npm ci --omit=dev'],
          service: { command: 'node server.js' },
        },
      },
      () => Promise.resolve(),
    );
  }
  const hosts = [];
  for (const [env, count] of [
    ['qa', 10],
    ['prod', 40],
  ]) {
    for (let i = 1; i <= count; i++) {
      const name = `${env}-${String(i).padStart(2, '0')}`;
      const id = `host_${name}`;
      await store.hosts.create({ id, name, env, roles: APPS, vars: {} });
      hosts.push({ id, name, env });
    }
  }
  const strategy = { batch: 5, maxFailures: 5, rollbackOnFailure: false, offlineTimeout: '60s' };
  const running = new Map(); // host id → app → install id
  let n = 0;
  const runInstall = async (install, ok, app, host) => {
    for (const step of STEPS) {
      if (step === 'migrate' && app !== 'back') continue;
      const at = tick(200);
      await store.installs.recordStep(install, { kind: 'started', step, at });
      const text = step === 'install' ? npmOutput(app, host.name) : `${step} done for ${app}\n`;
      // The agent sends output in pieces of about a kB.
      for (let seq = 0, i = 0; i < text.length; seq++, i += 1024)
        await store.installs.recordStep(install, {
          kind: 'output',
          step,
          stream: 'stdout',
          seq,
          text: text.slice(i, i + 1024),
        });
      const failed = !ok && step === 'install';
      if (failed)
        await store.installs.recordStep(install, {
          kind: 'output',
          step,
          stream: 'stderr',
          seq: 0,
          text: 'npm ERR! code ECONNRESET\nnpm ERR! network aborted\n',
        });
      await store.installs.recordStep(install, {
        kind: 'finished',
        step,
        ok: !failed,
        exitCode: failed ? 1 : 0,
        durationMs: 150 + (n % 7) * 40,
        error: failed ? 'install exited 1' : null,
        at: tick(150),
      });
      if (failed) break;
    }
    await store.installs.finish(install, {
      ok,
      rolledBack: false,
      error: ok ? null : 'install exited 1',
      at: tick(),
    });
  };
  for (const app of APPS) {
    for (const env of ['qa', 'prod']) {
      const deploymentId = `dep_${app}_${env}`;
      const targets = hosts.filter((h) => h.env === env);
      const installs = targets.map((h, index) => ({
        id: `ins_${app}_${h.name}`,
        hostId: h.id,
        app,
        version: 1,
        createdBy: 'dev',
        deploymentId,
        purpose: 'deploy',
        batch: Math.floor(index / 5),
        fromVersion: null,
        state: 'pending',
      }));
      await store.deployments.create(
        {
          id: deploymentId,
          app,
          version: 1,
          env,
          kind: 'deploy',
          state: 'running',
          strategy,
          fromVersion: null,
          createdBy: 'dev',
        },
        installs,
        {
          lock: false,
          snapshots: installs.map((i) => ({
            installId: i.id,
            snapshot: { vars: { PORT: '8080', API_KEY: 'k3y' }, secrets: ['API_KEY'] },
          })),
        },
      );
      for (const [index, install] of installs.entries()) {
        const host = targets[index];
        n++;
        // One host in ten fails, and catches up later.
        const fails = index % 10 === 3;
        await runInstall(install.id, !fails, app, host);
        if (fails) {
          const catchUp = `${install.id}_catchup`;
          await store.installs.create({
            id: catchUp,
            hostId: host.id,
            app,
            version: 1,
            createdBy: 'dev',
            deploymentId,
            purpose: 'catch-up',
            state: 'queued',
          });
          await runInstall(catchUp, true, app, host);
          running.set(`${host.id}/${app}`, catchUp);
        } else running.set(`${host.id}/${app}`, install.id);
      }
      await store.deployments.update(deploymentId, { state: 'succeeded', finishedAt: tick() });
      if (env === 'qa')
        await store.verdicts.record({
          app,
          version: 1,
          verdict: 'passed',
          note: null,
          by: 'quinn',
          at: tick(),
        });
    }
  }
  for (const host of hosts) {
    const apps = Object.fromEntries(
      APPS.map((app) => [
        app,
        {
          releases: [1],
          current: 1,
          config: { installId: running.get(`${host.id}/${app}`), vars: [] },
        },
      ]),
    );
    const node = host.name === 'prod-07' ? '20.9.0' : '20.11.1';
    const facts = hostFactsSchema.parse({
      factsVersion: 2,
      os: 'Debian GNU/Linux 12',
      kernel: 'Linux 6.1.0',
      runtimes: { node, npm: '10.2.4' },
      agentVersion: '0.1.0',
      roles: APPS,
      apps,
    });
    await store.hosts.setFacts(host.id, facts, tick());
  }
  for (let i = 0; i < 6; i++) {
    const note = await store.notes.add({
      on: { kind: 'label', label: LABEL },
      section: ['deployment', 'patch', 'testing', 'misc'][i % 4],
      impact: 'minor',
      text: `note ${i}: something to look at`,
      fixedBy: null,
      at: tick(),
      by: 'quinn',
    });
    await store.notes.addAction({
      noteId: note.id,
      owner: 'bob',
      text: 'look at it',
      at: tick(),
      by: 'quinn',
    });
  }
  return store;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';

let server;
try {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(data, { recursive: true, mode: 0o700 });
  const seedStart = performance.now();
  const store = await seed(path.join(data, 'ferry.db'));
  const seedMs = performance.now() - seedStart;

  // The split, in this process on the same file: gather (queries) and build (pure).
  const environments = environmentsSchema.parse([
    { name: 'qa' },
    { name: 'prod', requires: 'passed' },
  ]);
  const gather = [];
  const build = [];
  let facts;
  for (let i = 0; i <= runs; i++) {
    const a = performance.now();
    facts = await gatherReportFacts(store, { kind: 'label', label: LABEL }, environments);
    const b = performance.now();
    buildReport(facts, []);
    const c = performance.now();
    if (i > 0) {
      gather.push(b - a);
      build.push(c - b);
    }
  }
  await store.close();

  server = await LocalServer.start({ data, config: CONFIG });
  const url = `${server.url}/api/v1/report?label=${LABEL}`;
  const get = async () => {
    const response = await harnessFetch(url, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`report answered ${response.status}: ${body}`);
    return body.length;
  };
  const bytes = await get(); // warm-up
  const http = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await get();
    http.push(performance.now() - start);
  }
  const installs = facts.installs.length;
  const outputBytes = facts.installs.reduce(
    (sum, i) => sum + i.logs.reduce((s, l) => s + l.stdout.length + l.stderr.length, 0),
    0,
  );
  console.log(`CPU: ${cpu} (${os.cpus().length} cores), Node ${process.version}`);
  console.log(
    `seeded in ${(seedMs / 1000).toFixed(1)} s: ${facts.hosts.length} hosts, ${facts.bundles.length} bundles, ${facts.deployments.length} deployments, ${installs} installs, ${(outputBytes / 1024).toFixed(0)} KiB of step output`,
  );
  console.log(`report: ${(bytes / 1024).toFixed(0)} KiB of JSON`);
  console.log(
    `GET /report?label= over HTTP: median ${median(http).toFixed(1)} ms (min ${Math.min(...http).toFixed(1)}, max ${Math.max(...http).toFixed(1)}) over ${runs} runs`,
  );
  console.log(
    `  gather (store): median ${median(gather).toFixed(1)} ms; build (pure): median ${median(build).toFixed(1)} ms`,
  );
  console.log(
    median(http) < TARGET_MS
      ? `target met: under ${TARGET_MS} ms`
      : `TARGET MISSED: ${TARGET_MS} ms`,
  );
} finally {
  await server?.stop();
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
