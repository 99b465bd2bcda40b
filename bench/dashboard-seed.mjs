#!/usr/bin/env node
// The dashboard's scale data: 50 apps × 3 environments × 1,000 hosts, seeded
// into a SQLite store through the store API (no agents), so that the overview
// has every state a person looks for: hosts on the desired release and
// healthy, hosts behind it (away during the rollout), failed installs, away
// hosts, a failing health probe, and deployments under way.
//
// Imported by bench/dashboard-api-bench.mjs and bench/dashboard-bench.mjs;
// also runnable, to look at the data with a server of your own:
//
//   npm run build && node bench/dashboard-seed.mjs --data /tmp/ferry-dash [--hosts 1000 --apps 50]
//   node dist/main.js server --data /tmp/ferry-dash --config /tmp/ferry-dash/server.yml
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostFactsSchema } from '../dist/protocol/host-facts.js';
import { SqliteStore } from '../dist/store/sqlite/sqlite-store.js';
import { hashToken } from '../dist/server/token-service.js';

/** The lifecycle the seeded server runs with: the default three environments. */
export const DASHBOARD_CONFIG = `environments:
  - { name: dev }
  - { name: qa }
  - { name: prod, requires: passed }
`;

/** Environments in order, with their share of the hosts (10%, 30%, 60%). */
const ENVS = [
  ['dev', 0.1],
  ['qa', 0.3],
  ['prod', 0.6],
];

/** Fifty app names, as a team of some size has them. */
const APP_NAMES = [
  'front',
  'back',
  'cart',
  'catalogue',
  'search',
  'auth',
  'billing',
  'invoices',
  'payments',
  'shipping',
  'stock',
  'pricing',
  'promo',
  'reviews',
  'ratings',
  'mailer',
  'sms',
  'push',
  'notify',
  'profile',
  'accounts',
  'admin',
  'reports',
  'exports',
  'imports',
  'media',
  'thumbs',
  'cdn-sync',
  'geo',
  'tax',
  'currency',
  'fraud',
  'risk',
  'ledger',
  'audit',
  'feeds',
  'sitemap',
  'seo',
  'chat',
  'support',
  'tickets',
  'faq',
  'returns',
  'loyalty',
  'gift',
  'wishlist',
  'compare',
  'recommend',
  'analytics',
  'scheduler',
];

/** Step names an agent reports for an install without migrations. */
const STEPS = [
  'fetch',
  'verify',
  'unpack',
  'link-shared',
  'install',
  'switch',
  'start',
  'health',
  'prune',
];

const STRATEGY = { batch: '10%', maxFailures: 3, rollbackOnFailure: false, offlineTimeout: '60s' };

/**
 * Which hosts and installs are in which state: deterministic, so that every
 * run (and every test of the page) sees the same picture.
 */
const isAway = (i) => i % 97 === 13; // ~10 hosts: their agents do not connect
const isBehind = (i) => i % 89 === 40; // ~11 hosts: away during the rollouts, back, not caught up
const failsInstall = (i, a) => (i * 31 + a * 7) % 661 === 5; // a handful of (host, app) pairs
const healthFailing = (i, a) => (i * 13 + a * 3) % 997 === 11; // a few more

/**
 * Seeds a new SQLite store at `file`. Returns what was made: people's tokens
 * by role (`admin`, `deployer`, `qa`), the hosts (with
 * each one's agent token, so that a bench can connect it as a simulated
 * agent), the apps with their versions, the deployments under way, and the
 * counts a page should show.
 *
 * @example
 *   const seeded = await seedDashboard('/tmp/d/ferry.db', { hosts: 1000, apps: 50 });
 *   seeded.hostCells // 5,250: one per host and app it runs
 */
export async function seedDashboard(file, options = {}) {
  const hostCount = options.hosts ?? 1000;
  const appCount = options.apps ?? 50;
  if (appCount > APP_NAMES.length) throw new Error(`at most ${APP_NAMES.length} apps`);
  const log = options.log ?? (() => undefined);
  let clock = Date.parse(options.since ?? '2026-11-20T08:00:00.000Z');
  const tick = (ms = 1000) => new Date((clock += ms)).toISOString();

  const store = SqliteStore.open(file);
  await store.migrate();
  await store.environments.sync(ENVS.map(([env]) => env));

  // People's tokens, made here because a server makes its admin token only
  // on a store without any token, and the hosts' tokens come first.
  const people = {};
  for (const [name, role] of [
    ['admin', 'admin'],
    ['dana', 'deployer'],
    ['quinn', 'qa'],
  ]) {
    const token = `ferry_${role}_${randomBytes(32).toString('base64url')}`;
    await store.tokens.create({
      id: `tok_${name}`,
      name,
      role,
      env: null,
      tokenHash: hashToken(token),
      createdBy: null,
    });
    people[role] = token;
  }

  // Apps: each with three or four bundles; four apps have a newer one deploying.
  const apps = APP_NAMES.slice(0, appCount).map((name, a) => ({
    name,
    index: a,
    bundles: a % 5 === 0 ? 4 : 3,
  }));
  const manifest = (app) => ({
    role: app,
    install: ['npm ci --omit=dev'],
    service: {
      command: 'node server.js',
      env: { PORT: '${PORT}', REDIS_HOST: '${REDIS_HOST}' },
    },
    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: '30s' },
  });
  const bundleOf = (app, version) => ({
    app,
    sha256: randomBytes(32).toString('hex'),
    size: 2_000_000 + version * 10_000,
    label: `2026.11.${version}`,
    commit: randomBytes(4).toString('hex'),
    dirty: false,
    fileCount: 120 + version,
    createdAt: tick(),
    pushedBy: 'dev',
    manifest: manifest(app),
  });
  for (const app of apps)
    for (let v = 1; v <= app.bundles; v++)
      await store.bundles.record(bundleOf(app.name, v), () => Promise.resolve());

  await store.variables.set({
    name: 'PORT',
    scope: { kind: 'global' },
    value: '8080',
    secret: false,
    updatedAt: tick(),
    updatedBy: 'admin',
  });
  for (const [env] of ENVS)
    await store.variables.set({
      name: 'REDIS_HOST',
      scope: { kind: 'env', value: env },
      value: `redis.${env}.internal`,
      secret: false,
      updatedAt: tick(),
      updatedBy: 'admin',
    });

  // Hosts: 10% dev, 30% qa, 60% prod; each runs the five apps of its group
  // (ten groups), and one host in four one more.
  const hosts = [];
  let i = 0;
  for (const [env, share] of ENVS) {
    const count = Math.round(hostCount * share);
    for (let n = 1; n <= count; n++, i++) {
      const group = i % 10;
      const roles = new Set();
      for (let k = 0; k < 5; k++) roles.add(apps[(group * 5 + k) % appCount].name);
      if (i % 4 === 1) roles.add(apps[(i * 7 + 3) % appCount].name);
      const name = `${env}-${String(n).padStart(3, '0')}`;
      const id = `host_${name}`;
      const token = `ferry_agent_${randomBytes(32).toString('base64url')}`;
      await store.hosts.create({ id, name, env, roles: [...roles], vars: {} });
      await store.tokens.create({
        id: `tok_${name}`,
        name: `agent-${name}`,
        role: 'agent',
        env,
        tokenHash: hashToken(token),
        createdBy: 'bench',
        hostId: id,
      });
      hosts.push({ index: i, id, name, env, roles: [...roles], away: isAway(i), token });
    }
  }
  log(`${hosts.length} hosts, ${apps.length} apps`);

  const appIndex = new Map(apps.map((a) => [a.name, a.index]));
  /** Per host id and app: what the host runs (its facts) and its newest install. */
  const runs = new Map();
  const runKey = (hostId, app) => `${hostId}/${app}`;

  let installs = 0;
  const runInstall = async (installId, app, host, version, outcome, atStep) => {
    installs++;
    await store.installs.mark(
      installId,
      { state: 'running', startedAt: tick(50), sentAt: tick(10) },
      ['pending', 'queued'],
    );
    for (const step of STEPS) {
      await store.installs.recordStep(installId, { kind: 'started', step, at: tick(100) });
      if (step === 'install')
        await store.installs.recordStep(installId, {
          kind: 'output',
          step,
          stream: 'stdout',
          seq: 0,
          text: `added 212 packages in 4s (${app}@${version} on ${host.name})\n`,
        });
      if (step === atStep) return; // still running
      const failed = outcome === 'failed' && step === 'health';
      if (failed)
        await store.installs.recordStep(installId, {
          kind: 'output',
          step,
          stream: 'stderr',
          seq: 0,
          text: `GET http://127.0.0.1:8080/health: connect ECONNREFUSED (3 tries in 30s)\n`,
        });
      await store.installs.recordStep(installId, {
        kind: 'finished',
        step,
        ok: !failed,
        exitCode: failed ? null : 0,
        durationMs: 80 + ((installs * 37) % 900),
        error: failed ? 'the health check failed: connection refused' : null,
        at: tick(200),
      });
      if (failed) break;
    }
    await store.installs.finish(installId, {
      ok: outcome === 'succeeded',
      rolledBack: outcome === 'failed',
      error: outcome === 'failed' ? 'the health check failed: connection refused' : null,
      at: tick(100),
    });
  };

  const targetsOf = (app, env) =>
    hosts
      .filter((h) => h.env === env && h.roles.includes(app))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  const plan = (deploymentId, app, version, from, targets) => {
    const size = Math.max(1, Math.ceil(targets.length / 10));
    return targets.map((h, index) => ({
      id: `ins_${deploymentId.slice(4)}_${h.name}`,
      hostId: h.id,
      app,
      version,
      createdBy: 'dev',
      deploymentId,
      purpose: 'deploy',
      batch: Math.floor(index / size),
      fromVersion: from,
      state: 'pending',
    }));
  };
  const snapshot = (env) => ({
    vars: { PORT: '8080', REDIS_HOST: `redis.${env}.internal` },
    secrets: [],
  });

  // One finished deployment per app and environment: dev and qa run the
  // latest of the first three bundles, prod the one before.
  let deployments = 0;
  for (const app of apps) {
    for (const [env] of ENVS) {
      const version = env === 'prod' ? 2 : 3;
      const from = version - 1;
      const id = `dep_${app.name}_${env}`;
      const targets = targetsOf(app.name, env);
      const planned = plan(id, app.name, version, from, targets);
      await store.deployments.create(
        {
          id,
          app: app.name,
          version,
          env,
          kind: 'deploy',
          state: 'running',
          strategy: STRATEGY,
          fromVersion: from,
          createdBy: 'dev',
        },
        planned,
        {
          lock: false,
          snapshots: planned.map((p) => ({ installId: p.id, snapshot: snapshot(env) })),
        },
      );
      deployments++;
      const startedAt = tick();
      let partial = false;
      for (const [k, install] of planned.entries()) {
        const host = targets[k];
        const a = appIndex.get(app.name);
        let current = version;
        if (isBehind(host.index)) {
          await store.installs.mark(
            install.id,
            { state: 'skipped', error: `${host.name} was offline longer than 60s` },
            ['pending'],
          );
          current = from;
          partial = true;
        } else if (failsInstall(host.index, a)) {
          await runInstall(install.id, app.name, host, version, 'failed');
          current = from;
          partial = true;
        } else await runInstall(install.id, app.name, host, version, 'succeeded');
        runs.set(runKey(host.id, app.name), {
          current,
          installId: install.id,
          deploymentId: id,
          env,
        });
      }
      const finishedAt = tick();
      await store.deployments.update(id, {
        state: partial ? 'partial' : 'succeeded',
        startedAt,
        finishedAt,
      });
      await store.deployments.setDesiredRelease({
        env,
        app: app.name,
        version,
        deploymentId: id,
        updatedAt: finishedAt,
      });
      if (env === 'qa')
        await store.verdicts.record({
          app: app.name,
          version: 2,
          verdict: 'passed',
          note: null,
          by: 'quinn',
          at: tick(),
        });
    }
    // Version 3's verdict: passed for a third of the apps, failed for two, pending for the rest.
    const verdict3 = app.index % 17 === 5 ? 'failed' : app.index % 3 === 0 ? 'passed' : null;
    if (verdict3)
      await store.verdicts.record({
        app: app.name,
        version: 3,
        verdict: verdict3,
        note: verdict3 === 'failed' ? 'checkout totals wrong with vouchers' : null,
        by: 'quinn',
        at: tick(),
      });
  }

  // Deployments under way: three apps going to prod with version 3, one app
  // going to dev with version 4; the first batch done, the second running
  // (at its install step), the rest planned.
  const active = [];
  const underWay = [
    ...apps
      .filter((a) => a.index % 3 === 0 && a.index % 17 !== 5)
      .slice(0, 3)
      .map((a) => [a, 'prod', 3]),
    ...apps
      .filter((a) => a.bundles === 4)
      .slice(0, 1)
      .map((a) => [a, 'dev', 4]),
  ];
  for (const [app, env, version] of underWay) {
    const id = `dep_${app.name}_${env}_v${version}`;
    const targets = targetsOf(app.name, env).filter((h) => !isBehind(h.index));
    const from = version - 1;
    const planned = plan(id, app.name, version, from, targets);
    const made = await store.deployments.create(
      {
        id,
        app: app.name,
        version,
        env,
        kind: 'deploy',
        state: 'running',
        strategy: STRATEGY,
        fromVersion: from,
        createdBy: 'dana',
      },
      planned,
      { lock: true, snapshots: planned.map((p) => ({ installId: p.id, snapshot: snapshot(env) })) },
    );
    if (!made.created) throw new Error(`the lock of ${app.name} in ${env} is held`);
    await store.deployments.update(id, { startedAt: tick() });
    deployments++;
    for (const [k, install] of planned.entries()) {
      const host = targets[k];
      if (install.batch === 0) {
        await runInstall(install.id, app.name, host, version, 'succeeded');
        runs.set(runKey(host.id, app.name), {
          ...runs.get(runKey(host.id, app.name)),
          current: version,
          installId: install.id,
          deploymentId: id,
        });
      } else if (install.batch === 1)
        await runInstall(install.id, app.name, host, version, 'running', 'install');
    }
    active.push({ id, app: app.name, env, version, hosts: planned.length });
  }
  log(`${deployments} deployments, ${installs} installs run`);

  // Facts: what each host runs, its machine, its runtimes (a few on another node).
  let hostCells = 0;
  for (const host of hosts) {
    const factsApps = {};
    for (const app of host.roles) {
      const run = runs.get(runKey(host.id, app));
      const a = appIndex.get(app);
      const failing = healthFailing(host.index, a);
      factsApps[app] = {
        releases: [run.current - 1, run.current].filter((v) => v > 0),
        current: run.current,
        previous: run.current - 1 || null,
        health: failing ? 'failing' : 'ok',
        service: {
          running: true,
          pid: 1000 + a,
          uptimeSeconds: 3600,
          mergedOutput: false,
          stdoutBytes: 4096,
        },
        config: {
          installId: run.installId,
          deploymentId: run.deploymentId,
          vars: [
            { name: 'PORT', value: '8080', secret: false },
            { name: 'REDIS_HOST', value: `redis.${host.env}.internal`, secret: false },
          ],
        },
      };
      hostCells++;
    }
    const facts = hostFactsSchema.parse({
      factsVersion: 2,
      collectedAt: tick(10),
      hostname: host.name,
      os: 'Debian GNU/Linux 12 (bookworm)',
      kernel: 'Linux 6.1.0-28-amd64',
      platform: 'linux',
      arch: 'x64',
      cpus: 4,
      memory: { totalBytes: 8 * 2 ** 30, freeBytes: (2 + (host.index % 5)) * 2 ** 30 },
      disks: [
        { mount: '/', sizeBytes: 80 * 2 ** 30, freeBytes: (20 + (host.index % 40)) * 2 ** 30 },
      ],
      load: [0.4 + (host.index % 10) / 10, 0.5, 0.6],
      runtimes: {
        node: host.index % 50 === 7 ? '20.9.0' : '20.11.1',
        npm: '10.2.4',
        python3: '3.11.2',
        pip: '23.0.1',
      },
      agentVersion: '0.1.0',
      roles: host.roles,
      apps: factsApps,
    });
    const at = tick(10);
    await store.hosts.setFacts(host.id, facts, at);
    await store.hosts.addFactsSample(
      host.id,
      { at, facts },
      { keep: 100, since: '2026-01-01T00:00:00.000Z' },
    );
  }
  await store.close();
  return {
    tokens: people,
    hosts,
    apps: apps.map((a) => ({ name: a.name, latestVersion: a.bundles })),
    envs: ENVS.map(([env]) => env),
    active,
    deployments,
    installs,
    hostCells,
  };
}

/** Seeds `<data>/ferry.db` and writes `<data>/server.yml`: the data folder a server starts on. */
export async function seedDashboardData(data, options = {}) {
  await mkdir(data, { recursive: true, mode: 0o700 });
  await writeFile(path.join(data, 'server.yml'), DASHBOARD_CONFIG, { mode: 0o600 });
  const seeded = await seedDashboard(path.join(data, 'ferry.db'), options);
  // Where a server writes the admin token on its first start (LocalServer reads it there).
  await writeFile(path.join(data, 'admin-token'), `${seeded.tokens.admin}\n`, { mode: 0o600 });
  return seeded;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      hosts: { type: 'string', default: '1000' },
      apps: { type: 'string', default: '50' },
    },
  });
  if (!values.data) {
    console.error('usage: node bench/dashboard-seed.mjs --data DIR [--hosts 1000] [--apps 50]');
    process.exit(2);
  }
  const start = performance.now();
  const seeded = await seedDashboardData(values.data, {
    hosts: Number(values.hosts),
    apps: Number(values.apps),
    log: (line) => console.log(line),
  });
  console.log(
    `seeded ${values.data} in ${((performance.now() - start) / 1000).toFixed(1)} s: ` +
      `${seeded.hosts.length} hosts, ${seeded.apps.length} apps, ${seeded.deployments} deployments ` +
      `(${seeded.active.length} under way), ${seeded.installs} installs run, ${seeded.hostCells} host cells`,
  );
  console.log(
    `start it: node dist/main.js server --data ${values.data} --config ${path.join(values.data, 'server.yml')}`,
  );
}
