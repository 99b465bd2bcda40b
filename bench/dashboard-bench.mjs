#!/usr/bin/env node
/* global document, window, MutationObserver -- the functions run in the page */
// The dashboard at scale (issue 16): --apps apps × 3 environments on --hosts
// simulated hosts (bench/sim-agents.mjs: real enrolment, the real built-in
// transport, real job events), against a real `ferry server` (SQLite, or
// PostgreSQL with --store-url). Every bundle is pushed and every deployment
// run for real: version 1 of each app goes to dev and qa, is marked passed,
// and goes to prod. With --under-way K, K apps have a version 2 rolling out
// to prod, held in its first batch (their hosts never finish), as the bench
// measures. Then, in headless Chromium (playwright-core), signed in through
// the session API:
//
// (a) the overview's first full view, --runs times, each in a fresh browser
//     context (nothing cached): from navigation start to the first frame where
//     the matrix has a row per app with a cell per environment, the host counts
//     in words add up to every host cell the server's status has, each cell
//     with hosts has drawn its canvas, and the deployments under way are listed
//     (as many as the status has). Timed in the page (`performance.now()` at
//     that frame, `requestAnimationFrame` polling).
// (b) the deployment page following a 100-host rollout to prod (batches of
//     10%): opened before any host starts (the agents hold the jobs until the
//     page shows every host), then followed live. Every `install.step` event
//     the server streamed for the deployment must have appeared in the page
//     (its host, step and state, seen by a MutationObserver), and each row's
//     final state and steps must match the server's record; the lag from each
//     event's `at` (stamped by the server as it publishes it) to the moment
//     the page showed it: median, p95, worst.
//
// Exits non-zero when the overview never reaches its full view or an event is
// lost or a final state differs — never on a time.
//
//   npm run build && node bench/dashboard-bench.mjs [--hosts 1000] [--apps 50] [--runs 5]
//     [--under-way 0] [--store-url postgres://…] [--out bench/out/dashboard-bench.json]
//     [--step-ms 25] [--keep]
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createBundle } from '../dist/bundle/pack.js';
import { streamEvents } from '../dist/client/event-stream.js';
import { FerryClient } from '../dist/client/ferry-client.js';
import { pushBundleFile } from '../dist/client/node-transfers.js';
import { LocalServer } from '../dist/dev/local-server.js';
import { INSTALL_STEPS, SimulatedFleet } from './sim-agents.mjs';
import { harnessTrust } from '../dist/dev/harness-trust.js';
import { spkiSha256Base64 } from '../dist/tls/pem.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    apps: { type: 'string', default: '50' },
    runs: { type: 'string', default: '5' },
    'under-way': { type: 'string', default: '0' },
    'store-url': { type: 'string' },
    out: { type: 'string', default: 'bench/out/dashboard-bench.json' },
    /** How long each step of the followed rollout takes on a simulated host. */
    'step-ms': { type: 'string', default: '25' },
    keep: { type: 'boolean', default: false },
    /** Stop once version 1 runs everywhere (to look at the seeding alone). */
    'seed-only': { type: 'boolean', default: false },
    /** NODE_OPTIONS for the server (`--import=./profile.mjs`, to profile it). */
    'server-node-options': { type: 'string' },
  },
});
const count = (name, min) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name}: expected a whole number of at least ${min}, got ${values[name]}`);
  return n;
};
const hostCount = count('hosts', 30);
const runs = count('runs', 1);
const underWayCount = count('under-way', 0);
const stepMs = count('step-ms', 0);
const CHROMIUM = '/usr/bin/chromium';
/** Thrown to stop after the seeding (`--seed-only`). */
class SeedOnly extends Error {}
/** What a host reports of an install while the bench seeds the history: less than the full list. */
const SEED_STEPS = ['fetch', 'install', 'start', 'health'];
/** The followed rollout's size: every prod host of the first app, up to this many. */
const FOLLOWED_HOSTS = 100;

const APP_NAMES = [
  'front', 'back', 'cart', 'catalogue', 'search', 'auth', 'billing', 'invoices', 'payments',
  'shipping', 'stock', 'pricing', 'promo', 'reviews', 'ratings', 'mailer', 'sms', 'push',
  'notify', 'profile', 'accounts', 'admin', 'reports', 'exports', 'imports', 'media', 'thumbs',
  'cdn-sync', 'geo', 'tax', 'currency', 'fraud', 'risk', 'ledger', 'audit', 'feeds', 'sitemap',
  'seo', 'chat', 'support', 'tickets', 'faq', 'returns', 'loyalty', 'gift', 'wishlist',
  'compare', 'recommend', 'analytics', 'scheduler',
]; // prettier-ignore
const appCount = count('apps', 2);
if (appCount > APP_NAMES.length) throw new Error(`--apps: at most ${APP_NAMES.length}`);
if (underWayCount > appCount - 1)
  throw new Error(`--under-way: at most ${appCount - 1} (--apps - 1)`);
const apps = APP_NAMES.slice(0, appCount);
const followedApp = apps[0];

/** Environments in order, each with its share of the hosts. */
const ENVS = [
  ['dev', 0.1],
  ['qa', 0.3],
  ['prod', 0.6],
];
/**
 * The lifecycle: dev and qa take a whole environment at once; prod rolls 10%
 * at a time. The history is seeded with prod at 100% too (a host runs one job
 * at a time, so ten rollouts of 10% batches across shared hosts take their
 * turns for minutes); the server is then restarted on the same data with
 * the measured configuration, and the agents reconnect.
 */
const config = (prodBatch) => `environments:
  - { name: dev, strategy: { batch: '100%' } }
  - { name: qa, autoDeploy: true, strategy: { batch: '100%' } }
  - { name: prod, requires: passed, strategy: { batch: '${prodBatch}', maxFailures: 0, rollbackOnFailure: true } }
`;

const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const log = (line) => console.log(`[${elapsed()}] ${line}`);
const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
};
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);

/**
 * The fleet: hosts by environment (10%, 30%, 60%), each running the five apps
 * of its group (ten groups, the first app left out) and one host in four one
 * more; the first app runs on the group-0 hosts of dev and qa and on exactly
 * the first FOLLOWED_HOSTS hosts of prod (the followed rollout).
 */
function planHosts() {
  const hosts = [];
  const others = apps.slice(1);
  let i = 0;
  for (const [env, share] of ENVS) {
    const n = Math.round(hostCount * share);
    for (let k = 0; k < n; k++, i++) {
      const group = i % 10;
      const roles = new Set();
      for (let r = 0; r < 5; r++) roles.add(others[(group * 5 + r) % others.length]);
      if (i % 4 === 1) roles.add(others[(i * 7 + 3) % others.length]);
      if (env === 'prod' ? k < FOLLOWED_HOSTS : group === 0) roles.add(followedApp);
      hosts.push({ name: `${env}-${String(k + 1).padStart(4, '0')}`, env, roles: [...roles] });
    }
  }
  return hosts;
}

/** A source tree per app version, bundled with the real `createBundle`. */
async function makeBundle(work, app, version) {
  const dir = path.join(work, 'src', `${app}-${version}`);
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'ferry.yml'),
    `apps:\n  ${app}:\n    install: [npm ci --omit=dev]\n    service: { command: node server.js }\n`,
  );
  await writeFile(path.join(dir, 'server.js'), `// ${app} ${version}\nconsole.log('${app}');\n`);
  await writeFile(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: app, version: `1.0.${version}` }),
  );
  const out = path.join(work, 'bundles', `${app}-${version}.tar.gz`);
  await mkdir(path.dirname(out), { recursive: true });
  return (await createBundle({ sourceDir: dir, app, label: `1.0.${version}`, out })).file;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-dashboard-bench-'));
let server;
let fleet;
let browser;
const holds = { release: () => undefined };
let failed = false;
const result = {
  date: new Date().toISOString(),
  machine: { cpu, cores: os.cpus().length, node: process.version },
  command: `node bench/dashboard-bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  store: values['store-url'] ? 'postgresql' : 'sqlite',
  apps: appCount,
  environments: ENVS.length,
  hosts: hostCount,
  underWay: underWayCount,
};
try {
  const startServer = (prodBatch, port) =>
    LocalServer.start({
      data: path.join(work, 'server'),
      config: config(prodBatch),
      port,
      ...(values['store-url'] ? { store: values['store-url'] } : {}),
      readyTimeoutMs: 120_000,
      ...(values['server-node-options']
        ? { env: { NODE_OPTIONS: values['server-node-options'] } }
        : {}),
    });
  server = await startServer('100%', 0);
  const adminToken = server.adminToken;
  const admin = new FerryClient(server.url, adminToken, harnessTrust().clientOptions());
  log(`server at ${server.url} (${result.store})`);

  // Enrolment tokens, one per environment, as `ferry tokens create --role agent --env ENV` makes them.
  const enrolment = {};
  for (const [env] of ENVS)
    enrolment[env] = (
      await admin.call('createToken', { body: { role: 'agent', env, name: `enrol-${env}` } })
    ).token;

  // Which jobs the simulated hosts hold: a rollout kept under way, and the
  // followed one until the page shows every host.
  const underWay = new Set(apps.slice(1, 1 + underWayCount));
  let followGate;
  const followOpen = new Promise((resolve) => (followGate = resolve));
  const forever = new Promise((resolve) => (holds.release = resolve));
  const prodHostNames = new Set();
  const pace = (job, host) => {
    if (job.version === 2 && host.env === 'prod' && underWay.has(job.app))
      return { steps: INSTALL_STEPS, stepMs: 0, hold: forever, holdAt: 1, detach: true };
    if (job.version === 2 && host.env === 'prod' && job.app === followedApp)
      return { steps: INSTALL_STEPS, stepMs, hold: followOpen };
    // The seeding: fewer steps (each event costs the server the same), as fast as it takes them.
    return { steps: SEED_STEPS, stepMs: 0 };
  };

  const hosts = planHosts();
  for (const h of hosts) if (h.env === 'prod') prodHostNames.add(h.name);
  const hostCells = hosts.reduce((n, h) => n + h.roles.length, 0);
  result.hostCells = hostCells;
  fleet = await SimulatedFleet.enrol(server.url, hosts, {
    enrolmentToken: (env) => enrolment[env],
    pace,
  });
  log(`${hosts.length} hosts enrolled (${hostCells} host cells: hosts × the apps each runs)`);
  const connectStart = performance.now();
  fleet.start();
  await until('every simulated host connected', 120_000, async () => {
    const { environments } = await admin.call('environments', {});
    return environments.reduce((n, e) => n + e.connectedHosts, 0) === hosts.length;
  });
  result.connectSeconds = round((performance.now() - connectStart) / 1000);
  log(`${hosts.length} hosts connected in ${result.connectSeconds} s`);

  // Version 1 of each app: pushed (qa deploys it), deployed to dev, marked passed, deployed to prod.
  const push = async (app, version) => {
    const file = await makeBundle(work, app, version);
    const pushed = await pushBundleFile(admin, file, { label: `1.0.${version}` });
    if (pushed.bundle.version !== version)
      throw new Error(`${app}: pushed as v${pushed.bundle.version}, expected v${version}`);
  };
  for (const app of apps) await push(app, 1);
  for (const app of apps) await admin.call('deploy', { body: { app, version: 1, env: 'dev' } });
  await settled(admin, 'dev and qa to run version 1', (e) => e.env !== 'prod');
  for (const app of apps)
    await admin.call('markVerdict', {
      params: { app, version: '1' },
      body: { verdict: 'passed', note: 'bench' },
    });
  for (const app of apps) await admin.call('deploy', { body: { app, version: 1, env: 'prod' } });
  await settled(admin, 'prod to run version 1', () => true);
  log(`seeded: ${apps.length} apps × ${ENVS.length} environments on version 1`);
  if (values['seed-only']) throw new SeedOnly();

  // The measured server: prod in batches of 10%, on the same data and port.
  const port = Number(new URL(server.url).port);
  await server.stop({ keepData: true });
  server = undefined;
  const restart = performance.now();
  server = await startServer('10%', port);
  await until('every simulated host connected again', 300_000, async () => {
    const { environments } = await admin.call('environments', {});
    return environments.reduce((n, e) => n + e.connectedHosts, 0) === hosts.length;
  });
  result.reconnectSeconds = round((performance.now() - restart) / 1000);
  log(
    `server restarted (prod in batches of 10%): ${hosts.length} hosts back in ${result.reconnectSeconds} s`,
  );

  // Chromium accepts exactly the key of the server's own certificate: it does not
  // know the server's CA, and checking is not turned off.
  const serverChain = readFileSync(path.join(server.dataDir, 'tls', 'server.pem'), 'utf8');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [`--ignore-certificate-errors-spki-list=${spkiSha256Base64(serverChain)}`],
  });
  const signedIn = async () => {
    const context = await browser.newContext({
      baseURL: server.url,
      viewport: { width: 1280, height: 800 },
    });
    // Signed in by the browser itself (Playwright's own requests would not trust the
    // server's CA), from a page of the server's origin; the cookie stays in the context.
    const probe = await context.newPage();
    await probe.goto('/api/v1/health');
    const answer = await probe.evaluate(async (token) => {
      const response = await fetch('/api/v1/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      return { status: response.status, ok: response.ok, text: await response.text() };
    }, adminToken);
    await probe.close();
    if (!answer.ok) throw new Error(`signing in answered ${answer.status}: ${answer.text}`);
    return context;
  };

  /** (a) The overview's first full view, `runs` times, each in a fresh context. */
  const measureOverview = async (label) => {
    // What the overview must show: every app, every environment, every host cell.
    const status = await admin.call('status', {});
    const expected = {
      apps: status.apps.length,
      envs: ENVS.length,
      hostCells: status.apps.reduce(
        (n, a) => n + a.environments.reduce((m, e) => m + e.hosts.length, 0),
        0,
      ),
      cellsWithHosts: status.apps.reduce(
        (n, a) => n + a.environments.filter((e) => e.hosts.length > 0).length,
        0,
      ),
      active: status.apps.reduce((n, a) => n + a.environments.filter((e) => e.active).length, 0),
    };
    if (expected.hostCells !== hostCells)
      throw new Error(`the status has ${expected.hostCells} host cells, the fleet ${hostCells}`);
    const overview = [];
    for (let run = 0; run < runs; run++) {
      const context = await signedIn();
      const page = await context.newPage();
      await page.goto('/', { waitUntil: 'commit' });
      const fullView = await page
        .waitForFunction(overviewComplete, expected, { polling: 'raf', timeout: 60_000 })
        .then((handle) => handle.jsonValue())
        .catch((err) => ({ error: err.message }));
      if ('error' in fullView) {
        const seen = await page.evaluate(overviewSeen).catch(() => null);
        await context.close();
        throw new Error(
          `the overview (${label}) never reached its full view (run ${run + 1}): expected ${JSON.stringify(expected)}, saw ${JSON.stringify(seen)}`,
        );
      }
      overview.push(fullView);
      log(
        `overview (${label}) run ${run + 1}: full view at ${fullView.at.toFixed(0)} ms ` +
          `(DOMContentLoaded ${fullView.domContentLoaded.toFixed(0)} ms)`,
      );
      await context.close();
    }
    const times = overview.map((o) => o.at);
    return {
      expected,
      statusBytes: Buffer.byteLength(JSON.stringify(status)),
      runsMs: times.map(round),
      medianMs: round(quantile(times, 0.5)),
      minMs: round(Math.min(...times)),
      maxMs: round(Math.max(...times)),
    };
  };
  result.overviewCondition =
    'a row per app with a cell per environment; the host counts in words add up to every host cell of the status; every cell with hosts has drawn its canvas; the deployments under way listed';
  result.overview = { none: await measureOverview('no rollout under way') };

  // The rollouts under way: version 2 (qa takes it), passed, going to prod and held in its first batch.
  for (const app of underWay) {
    await push(app, 2);
    await until(`${app}@2 to land in qa`, 120_000, () => landed(admin, app, 2, 'qa'));
    await admin.call('markVerdict', { params: { app, version: '2' }, body: { verdict: 'passed' } });
    await admin.call('deploy', { body: { app, version: 2, env: 'prod' } });
  }
  if (underWay.size > 0) {
    await until('the rollouts under way to be held in their first batch', 120_000, async () => {
      const status = await admin.call('status', {});
      return status.apps
        .filter((a) => underWay.has(a.app))
        .every((a) => a.environments.some((e) => e.env === 'prod' && e.active));
    });
    log(`${underWay.size} rollouts under way in prod (${[...underWay].join(', ')})`);
    result.overview.underWay = await measureOverview(`${underWay.size} under way`);
  }

  // (b) The deployment page following a 100-host rollout to prod.
  await push(followedApp, 2);
  await until(`${followedApp}@2 to land in qa`, 120_000, () => landed(admin, followedApp, 2, 'qa'));
  await admin.call('markVerdict', {
    params: { app: followedApp, version: '2' },
    body: { verdict: 'passed' },
  });
  const events = [];
  const streaming = new AbortController();
  let streamOpen;
  const opened = new Promise((resolve) => (streamOpen = resolve));
  let deploymentId;
  const stream = streamEvents({
    client: admin,
    query: { app: followedApp, env: 'prod' },
    signal: streaming.signal,
    onOpen: () => streamOpen(),
    onEvent: (event) => {
      if (event.deploymentId === deploymentId && event.kind === 'install.step')
        events.push({ at: event.at, received: Date.now(), ...event.data });
    },
  }).catch((err) => {
    if (!streaming.signal.aborted) throw err;
  });
  await opened;
  const deployment = await admin.call('deploy', {
    body: { app: followedApp, version: 2, env: 'prod' },
  });
  deploymentId = deployment.id;
  const targets = hosts.filter((h) => h.env === 'prod' && h.roles.includes(followedApp)).length;
  if (deployment.installs.length !== targets)
    throw new Error(`${deploymentId} has ${deployment.installs.length} hosts, not ${targets}`);
  log(`following ${followedApp}@2 to prod: ${deploymentId}, ${targets} hosts`);

  const context = await signedIn();
  const page = await context.newPage();
  await page.addInitScript(watchSteps);
  await page.goto(`/deployments/${encodeURIComponent(deploymentId)}`);
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="install-row"]').length === n,
    targets,
    { polling: 'raf', timeout: 60_000 },
  );
  log('the page shows every host: the hosts go ahead');
  const followStart = performance.now();
  followGate();
  await until('the followed rollout to end', 300_000, async () => {
    const d = await admin.call('deployment', { params: { id: deploymentId } });
    return !['pending', 'running'].includes(d.state);
  });
  const ended = await admin.call('deployment', { params: { id: deploymentId } });
  const followSeconds = (performance.now() - followStart) / 1000;
  // The server's steps of every install, as the page should end up showing them.
  const serverRows = {};
  for (const install of ended.installs) {
    const record = await admin.call('install', { params: { id: install.id } });
    serverRows[install.host] = {
      state: install.state,
      steps: record.steps.map((s) => `${s.step}:${s.state}`),
    };
  }
  const stepEvents = INSTALL_STEPS.length * 2 * targets;
  await until('every step event to reach the bench', 60_000, () => events.length >= stepEvents);
  // The page has the last word once its rows hold the server's final states (or it never does).
  const final = await page
    .waitForFunction(
      (rows) =>
        [...document.querySelectorAll('[data-testid="install-row"]')].every((row) => {
          const want = rows[row.dataset.host];
          if (!want || row.dataset.state !== want.state) return false;
          const steps = [...row.querySelectorAll('[data-testid="step"]')].map(
            (s) => `${s.dataset.step}:${s.dataset.state}`,
          );
          return steps.join() === want.steps.join();
        }),
      serverRows,
      { polling: 'raf', timeout: 30_000 },
    )
    .then(() => true)
    .catch(() => false);
  const seen = new Map(await page.evaluate(() => [...window.__ferryStepsSeen.entries()]));
  streaming.abort();
  await stream;
  await context.close();

  const lags = [];
  const lost = [];
  // A step's start counts as shown once the page shows the step, running or
  // already ended: when its end comes in the same read of the stream, the
  // page renders once, with the newer word (a person never sees less).
  const shownAt = (event) => {
    const at = (state) => seen.get(`${event.host}|${event.step}|${state}`);
    if (event.state !== 'running') return at(event.state);
    const times = ['running', 'succeeded', 'failed'].map(at).filter((t) => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  };
  let startsShownEnded = 0;
  for (const event of events) {
    const shown = shownAt(event);
    if (event.state === 'running' && seen.get(`${event.host}|${event.step}|running`) === undefined)
      startsShownEnded += shown === undefined ? 0 : 1;
    if (shown === undefined) lost.push(`${event.host} ${event.step} ${event.state}`);
    else lags.push(shown - Date.parse(event.at));
  }
  const mismatched = [];
  if (!final) {
    const rows = await (async () => {
      const c = await signedIn();
      const p = await c.newPage();
      await p.goto(`/deployments/${encodeURIComponent(deploymentId)}`);
      await p.waitForSelector('[data-testid="install-row"]');
      const r = await p.evaluate(() =>
        [...document.querySelectorAll('[data-testid="install-row"]')].map((row) => ({
          host: row.dataset.host,
          state: row.dataset.state,
        })),
      );
      await c.close();
      return r;
    })();
    for (const row of rows)
      if (serverRows[row.host]?.state !== row.state)
        mismatched.push(`${row.host}: page ${row.state}, server ${serverRows[row.host]?.state}`);
    if (mismatched.length === 0) mismatched.push('a row whose steps differ from the server’s');
  }
  result.deploymentPage = {
    deploymentId,
    hosts: targets,
    state: ended.state,
    rolloutSeconds: round(followSeconds),
    stepEvents: events.length,
    shown: lags.length,
    startsFirstShownEnded: startsShownEnded,
    lost: lost.length,
    lostExamples: lost.slice(0, 10),
    finalStatesMatch: final,
    mismatched: mismatched.slice(0, 10),
    lagMedianMs: round(quantile(lags, 0.5)),
    lagP95Ms: round(quantile(lags, 0.95)),
    lagMaxMs: round(lags.length ? Math.max(...lags) : null),
  };
  log(
    `deployment page: ${lags.length}/${events.length} step events shown, lag median ${result.deploymentPage.lagMedianMs} ms, ` +
      `p95 ${result.deploymentPage.lagP95Ms} ms, worst ${result.deploymentPage.lagMaxMs} ms; ` +
      `final states ${final ? 'match' : 'DIFFER'}; the rollout (${ended.state}) took ${followSeconds.toFixed(1)} s`,
  );
  if (lost.length > 0 || !final || events.length !== stepEvents || ended.state !== 'succeeded') {
    failed = true;
    console.error(
      `FAILED: ${lost.length} step events never shown (${lost.slice(0, 5).join('; ')}), ` +
        `final states ${final ? 'match' : `differ (${mismatched.slice(0, 5).join('; ')})`}, ` +
        `${events.length} of ${stepEvents} step events streamed, the rollout ended ${ended.state}`,
    );
  }
  for (const [which, o] of Object.entries(result.overview))
    log(
      `overview (${which}): median ${o.medianMs} ms over ${runs} run${runs === 1 ? '' : 's'} (${o.runsMs.join(', ')})`,
    );
} catch (err) {
  if (!(err instanceof SeedOnly)) {
    failed = true;
    console.error(`FAILED: ${err.stack ?? err}`);
    result.error = String(err.message ?? err);
  }
} finally {
  holds.release();
  await browser?.close().catch(() => undefined);
  await fleet?.close().catch((err) => console.error(`stopping the fleet: ${err.message}`));
  await server?.stop().catch((err) => console.error(`stopping the server: ${err.message}`));
  if (values.out) {
    await mkdir(path.dirname(values.out), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${values.out}`);
  }
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
process.exit(failed ? 1 : 0);

/** Waits for `check` to hold, looking again every 200 ms, for at most `ms`. */
async function until(what, ms, check) {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits until no deployment is under way in the environments `which` picks; fails on one that did not succeed. */
async function settled(admin, what, which) {
  await until(what, 600_000, async () => {
    const status = await admin.call('status', {});
    return status.apps.every((a) =>
      a.environments.filter(which).every((e) => e.active === null && e.desired !== null),
    );
  });
  const { deployments } = await admin.call('deployments', { query: { limit: '1000' } });
  const bad = deployments.filter((d) => d.state !== 'succeeded');
  if (bad.length > 0)
    throw new Error(
      `${what}: ${bad.length} deployments did not succeed: ${bad
        .slice(0, 3)
        .map((d) => `${d.app}@${d.version} to ${d.env} ${d.state}: ${d.error}`)
        .join('; ')}`,
    );
  log(`${what}: done`);
}

/** True once `app@version` is the desired release of `env`. */
async function landed(admin, app, version, env) {
  const status = await admin.call('status', { query: { app } });
  return status.apps[0]?.environments.find((e) => e.env === env)?.desired?.version === version;
}

/**
 * In the page: the overview's full view, or false. Returns the time since
 * navigation start at the frame it was first seen.
 */
function overviewComplete(expected) {
  const rows = document.querySelectorAll('[data-testid="matrix"] tbody tr[data-app]');
  if (rows.length !== expected.apps) return false;
  let cells = 0;
  let hostCells = 0;
  let drawn = 0;
  for (const row of rows) {
    const envs = row.querySelectorAll('.env-status[data-env]');
    if (envs.length !== expected.envs) return false;
    cells += envs.length;
    for (const env of envs) {
      const words = env.querySelector('[data-testid="host-counts"]')?.textContent ?? '';
      for (const match of words.matchAll(/(\d+) [a-z]+/g)) hostCells += Number(match[1]);
      const canvas = env.querySelector('canvas[data-testid="host-cells"]');
      if (canvas && canvas.style.width !== '' && canvas.width > 0) drawn++;
    }
  }
  if (hostCells !== expected.hostCells || drawn !== expected.cellsWithHosts) return false;
  const listed = document.querySelectorAll('ul[aria-labelledby="under-way"] > li').length;
  if (
    expected.active === 0
      ? !document.querySelector('[data-testid="none-under-way"]')
      : listed !== expected.active
  )
    return false;
  const navigation = performance.getEntriesByType('navigation')[0];
  return {
    at: performance.now(),
    cells,
    hostCells,
    domContentLoaded: navigation?.domContentLoadedEventEnd ?? 0,
  };
}

/** In the page, when the full view never came: what it had. */
function overviewSeen() {
  const rows = document.querySelectorAll('[data-testid="matrix"] tbody tr[data-app]');
  return {
    rows: rows.length,
    counts: [...document.querySelectorAll('[data-testid="host-counts"]')]
      .map((p) => p.textContent)
      .slice(0, 5),
    errors: [...document.querySelectorAll('.error, [role="alert"]')].map((e) => e.textContent),
  };
}

/**
 * In the page, before its scripts: notes when each host's step is first
 * shown in each state (`host|step|state` → Date.now()), as the DOM changes.
 */
function watchSteps() {
  const seen = new Map();
  window.__ferryStepsSeen = seen;
  const note = (button, at) => {
    const row = button.closest('[data-testid="install-row"]');
    if (!row) return;
    const key = `${row.dataset.host}|${button.dataset.step}|${button.dataset.state}`;
    if (!seen.has(key)) seen.set(key, at);
  };
  const observer = new MutationObserver((records) => {
    const at = Date.now();
    for (const record of records) {
      if (record.type === 'attributes') {
        if (record.target.dataset?.testid === 'step') note(record.target, at);
        continue;
      }
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.dataset?.testid === 'step') note(node, at);
        for (const button of node.querySelectorAll('[data-testid="step"]')) note(button, at);
      }
    }
  });
  const start = () =>
    observer.observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-state', 'data-step'],
    });
  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);
}
