#!/usr/bin/env node
// Fan-out benchmark (issue 18): a ~20 MB release of a zero-dependency Node app
// put on --hosts hosts at once, by Ferry and by the floor, a bare parallel shell
// script (bench/fanout-floor.sh) doing the same work per host, and with
// --with-ansible by Ansible (forks N, ansible_connection=local). All hosts are on
// this machine, each with its own root and its own port.
//
// One real `ferry server` for the whole bench; each run enrols --hosts new
// agents (environment run<k>, batch 100%) and waits until they are connected and
// idle before anything is timed. Each run has three rounds — fresh install of v1,
// v2 over v1, rollback to v1 — and in each round Ferry and the floor (and
// Ansible) take turns, the order alternating between runs. Ferry's time is the
// `ferry deploy` / `ferry rollback` command's, from its start to its exit once
// every host reported succeeded with its health check passed (the bench checks
// each install's `health` step). It reports medians over the runs, Ferry's ratio
// to the floor per round, Ferry's per-step breakdown (the median per step across
// hosts and runs, from each install's steps through the API) and the time between
// steps, and CPU seconds: the server, the agents and the CLI (from /proc), against
// the floor's script and every process it waited for. The apps themselves are
// counted on neither side.
//
//   node bench/fanout.mjs [--hosts 20] [--runs 5] [--size-mb 20] [--with-ansible]
//                         [--out FILE] [--keep]
//
// Exits non-zero when a round fails (a host not succeeded, a health check not
// passed), never on a time.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { harnessFetch } from '../dist/dev/harness-trust.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';
import { releasePort, reservePort } from '../dist/dev/port-allocator.js';
import { stopServices } from '../dist/dev/stop-services.js';
import { serviceManifest } from './service-manifest.mjs';

const FLOOR_SCRIPT = fileURLToPath(new URL('./fanout-floor.sh', import.meta.url));
const APP = 'fanout';
const ROUNDS = ['fresh', 'upgrade', 'rollback'];
const ROUND_TITLES = { fresh: 'fresh install', upgrade: 'v2 over v1', rollback: 'rollback' };
/** Issue 18's targets: Ferry's time against the floor's, in the same run. */
const TARGETS = { fresh: 1.5, upgrade: 1.5, rollback: 1.3 };
/** Agents started side by side while a run's hosts are enrolled (none of it is timed). */
const AGENTS_AT_ONCE = 5;

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20' },
    runs: { type: 'string', default: '5' },
    'size-mb': { type: 'string', default: '20' },
    'with-ansible': { type: 'boolean', default: false },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const hostCount = positiveInt('--hosts', values.hosts);
const runs = positiveInt('--runs', values.runs);
const sizeMb = positiveInt('--size-mb', values['size-mb']);
const withAnsible = values['with-ansible'];

function positiveInt(flag, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${flag} takes a whole number of at least 1, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds of a process so far, its own and its reaped children's; 0 once it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14–17; fields[0] here is field 3.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    return ticks / CLK_TCK;
  } catch {
    return 0;
  }
}

/** This process's reaped children's CPU seconds: a child run to its end counts here. */
function childrenCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

function median(list) {
  const xs = list.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a command to its end: its exit code, output, wall time, and the CPU of it and all it waited for. */
function runChild(command, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const cpuBefore = childrenCpu();
    const startedAt = performance.now();
    const wallStart = Date.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        ms: performance.now() - startedAt,
        cpu: childrenCpu() - cpuBefore,
        wallStart,
        wallEnd: Date.now(),
      }),
    );
  });
}

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-fanout-'));
const ports = [];
let cluster;
/** LocalCluster.start's promise, so that a signal during the start still stops it. */
let clusterStarting;
const failures = [];
const results = [];

// ---------------------------------------------------------------------------
// The workload: a tiny http server answering /health, and incompressible padding.

async function writeApp(dir, version, padding) {
  await mkdir(path.join(dir, 'padding'), { recursive: true });
  await writeFile(path.join(dir, 'ferry.yml'), serviceManifest(APP));
  await writeFile(
    path.join(dir, 'server.js'),
    `const http = require('node:http');
const server = http.createServer((request, response) => {
  const ok = request.url === '/health';
  response.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ ok, version: ${JSON.stringify(version)} }));
});
server.listen(Number(process.env.APP_PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  );
  for (const [i, bytes] of padding.entries()) {
    await writeFile(path.join(dir, 'padding', `blob-${String(i).padStart(2, '0')}.bin`), bytes);
  }
}

async function makeWorkload() {
  // 1 MiB files of random bytes: gzip cannot shrink them, so the bundle is ~size-mb.
  const padding = Array.from({ length: sizeMb }, () => randomBytes(1024 * 1024));
  const dirs = {};
  for (const version of ['v1', 'v2']) {
    dirs[version] = path.join(work, 'src', version);
    await writeApp(dirs[version], version, padding);
  }
  const tarballs = {};
  for (const version of ['v1', 'v2']) {
    tarballs[version] = path.join(work, `${APP}-${version}.tar.gz`);
    execFileSync('tar', ['czf', tarballs[version], '-C', dirs[version], '.']);
  }
  return { dirs, tarballs };
}

// ---------------------------------------------------------------------------
// Ferry

const ferryEnv = () => ({
  ...process.env,
  FERRY_SERVER: cluster.url,
  FERRY_CA_FILE: cluster.server.caFile,
  FERRY_TOKEN: cluster.server.adminToken,
  FERRY_CONFIG_DIR: path.join(work, 'cli'),
});

async function ferry(args) {
  const result = await runChild(process.execPath, [FERRY_MAIN, ...args], ferryEnv());
  return result;
}

async function ferryJson(args) {
  const result = await ferry([...args, '--json']);
  if (result.code !== 0 && result.stdout.trim() === '') {
    throw new Error(`ferry ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return { ...result, json: JSON.parse(result.stdout) };
}

async function api(pathname) {
  const res = await harnessFetch(`${cluster.url}${pathname}`, {
    headers: { authorization: `Bearer ${cluster.server.adminToken}` },
  });
  if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The pids whose CPU is Ferry's: the server and this run's agents. */
function ferryPids(hosts) {
  return [cluster.server.child.pid, ...hosts.map((h) => cluster.host(h).agent.child.pid)];
}
const cpuSum = (pids) => pids.reduce((sum, pid) => sum + cpuOf(pid), 0);

/**
 * Waits until the server and the agents are idle (under 5% of a core over
 * half a second, for two windows in a row), at most 20 s: what they do after a
 * connect or an install (facts) belongs to no timed round but their own.
 */
async function settle(pids) {
  const deadline = Date.now() + 20_000;
  let quiet = 0;
  while (Date.now() < deadline && quiet < 2) {
    const before = cpuSum(pids);
    await sleep(500);
    quiet = cpuSum(pids) - before < 0.025 ? quiet + 1 : 0;
  }
}

async function ferryRound(round, env, versions, hosts) {
  const pids = ferryPids(hosts);
  const cpuBefore = cpuSum(pids);
  const serverBefore = cpuOf(pids[0]);
  const args =
    round === 'rollback'
      ? ['rollback', APP, '--env', env, '--to', String(versions.v1), '--yes']
      : ['deploy', `${APP}@${round === 'fresh' ? versions.v1 : versions.v2}`, '--env', env];
  const result = await ferryJson(args);
  const deployment = result.json;
  const cliCpu = result.cpu;
  // What the agents do once their install is reported (facts) is this round's cost too.
  await settle(pids);
  const cpu = cpuSum(pids) - cpuBefore + cliCpu;
  const serverCpu = cpuOf(pids[0]) - serverBefore;
  // Split: the server, the agents (with what they ran: the apps' own CPU is not
  // counted until they are reaped, so hardly at all), the CLI.
  const cpuSplit = { server: serverCpu, agents: cpu - cliCpu - serverCpu, cli: cliCpu };
  const problems = [];
  if (deployment.state !== 'succeeded') {
    problems.push(`deployment ${deployment.id} ended ${deployment.state}: ${deployment.error}`);
  }
  const installs = [];
  for (const summary of deployment.installs ?? []) {
    const record = await api(`/api/v1/installs/${summary.id}`);
    const health = record.steps.find((s) => s.step === 'health');
    if (record.state !== 'succeeded')
      problems.push(`${record.host}: ${record.state} ${record.error}`);
    else if (health?.state !== 'succeeded') problems.push(`${record.host}: no health check passed`);
    installs.push(breakdown(deployment, record));
  }
  if (installs.length !== hosts.length) {
    problems.push(`${installs.length} installs for ${hosts.length} hosts`);
  }
  return {
    ms: result.ms,
    // The server's own span, and the CLI's time around it: from its start to
    // the deployment's creation, and from the deployment's end to its exit.
    serverMs: Date.parse(deployment.finishedAt) - Date.parse(deployment.createdAt),
    cliBeforeMs: Date.parse(deployment.createdAt) - result.wallStart,
    cliAfterMs: result.wallEnd - Date.parse(deployment.finishedAt),
    cpu,
    cpuSplit,
    deploymentId: deployment.id,
    installs,
    problems,
  };
}

/**
 * One install's time, split: from the deployment's creation to the install's
 * start (`queue`), each step, the time between steps (`gaps`, with the time
 * from the install's start to its first step and from its last step to its
 * end), and the whole install.
 */
function breakdown(deployment, record) {
  const t = (iso) => (iso ? Date.parse(iso) : NaN);
  const steps = {};
  const lags = [];
  let gaps = 0;
  let cursor = t(record.startedAt);
  for (const step of record.steps) {
    // A step's start is the agent's clock; its recorded end is when the server
    // heard of it. Its length is the agent's own `durationMs`, and the
    // difference is how late its end reached the server (`end lag`).
    const start = t(step.startedAt);
    const end = Number.isFinite(step.durationMs) ? start + step.durationMs : t(step.finishedAt);
    steps[step.step] = (steps[step.step] ?? 0) + (end - start);
    if (step.finishedAt) lags.push(t(step.finishedAt) - end);
    gaps += Math.max(0, start - cursor);
    cursor = Math.max(cursor, end);
  }
  gaps += Math.max(0, t(record.finishedAt) - cursor);
  return {
    host: record.host,
    queue: t(record.startedAt) - t(deployment.createdAt),
    steps,
    order: record.steps.map((s) => s.step),
    gaps,
    endLag: median(lags),
    total: t(record.finishedAt) - t(record.startedAt),
  };
}

// ---------------------------------------------------------------------------
// The floor

async function floorRound(round, roots, tarballs) {
  const version = round === 'upgrade' ? 'v2' : 'v1';
  const tarball = round === 'rollback' ? '' : tarballs[version];
  const result = await runChild('bash', [
    FLOOR_SCRIPT,
    version,
    tarball,
    ...roots.map((r) => `${r.root}:${r.port}`),
  ]);
  const problems =
    result.code === 0 ? [] : [`floor exited ${result.code}: ${result.stderr.trim()}`];
  const hosts = result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [root, unpack, sw, stop, start, health] = line.split(' ');
      return {
        host: path.basename(root),
        steps: {
          unpack: Number(unpack),
          switch: Number(sw),
          stop: Number(stop),
          start: Number(start),
          health: Number(health),
        },
      };
    });
  return { ms: result.ms, cpu: result.cpu, hosts, problems };
}

/**
 * Stops the floor's apps (their pid files, removed once read: a pid is not
 * signalled twice) and waits until they are gone.
 */
async function stopFloorApps(roots) {
  const pids = [];
  for (const { root } of roots) {
    const pidFile = path.join(root, 'app.pid');
    try {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      rmSync(pidFile, { force: true });
      process.kill(pid, 'SIGKILL');
      pids.push(pid);
    } catch {
      // No app, or already gone.
    }
  }
  const alive = (pid) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(50);
}

// ---------------------------------------------------------------------------
// Ansible: the same steps as the floor, one play, forks N.

const ANSIBLE_PLAY = `- hosts: all
  gather_facts: false
  tasks:
    - name: unpack
      when: tarball | length > 0
      block:
        - file: { path: "{{ root }}/releases/{{ version }}", state: directory }
        - unarchive: { src: "{{ tarball }}", dest: "{{ root }}/releases/{{ version }}" }
    - name: switch
      shell: ln -sfn "releases/{{ version }}" "{{ root }}/current.new" && mv -T "{{ root }}/current.new" "{{ root }}/current"
    - name: stop
      shell: |
        if [ -f "{{ root }}/app.pid" ]; then
          old=$(cat "{{ root }}/app.pid"); kill "$old" 2>/dev/null
          while [ -e /proc/$old ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$old/stat; do sleep 0.02; done
        fi
    - name: start
      shell: |
        cd "{{ root }}/current" && (APP_PORT={{ port }} setsid node server.js >>"{{ root }}/app.log" 2>&1 </dev/null & echo $! >"{{ root }}/app.pid")
    - name: health
      uri: { url: "http://127.0.0.1:{{ port }}/health" }
      register: health
      until: health.status == 200
      retries: 600
      delay: 0.05
`;

async function ensureAnsible() {
  const has = () => {
    try {
      execFileSync('ansible-playbook', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return;
  console.log('installing Ansible from the distribution (apt-get install -y ansible)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'ansible'], { stdio: 'inherit', env });
  if (!has()) throw new Error('ansible-playbook is still missing after apt-get install ansible');
}

async function ansibleRound(round, roots, tarballs, dir) {
  const version = round === 'upgrade' ? 'v2' : 'v1';
  const tarball = round === 'rollback' ? '' : tarballs[version];
  const inventory = path.join(dir, 'inventory.ini');
  await writeFile(
    inventory,
    `[all]\n${roots
      .map(
        (r) =>
          `${path.basename(r.root)} ansible_connection=local ansible_python_interpreter=/usr/bin/python3 root=${r.root} port=${r.port}`,
      )
      .join('\n')}\n`,
  );
  const play = path.join(dir, 'play.yml');
  await writeFile(play, ANSIBLE_PLAY);
  const result = await runChild(
    'ansible-playbook',
    [
      '-i',
      inventory,
      '-f',
      String(roots.length),
      play,
      '-e',
      `version=${version} tarball=${tarball}`,
    ],
    { ...process.env, ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1' },
  );
  const problems =
    result.code === 0
      ? []
      : [`ansible-playbook exited ${result.code}: ${result.stdout.slice(-2000)}`];
  return { ms: result.ms, cpu: result.cpu, problems };
}

// ---------------------------------------------------------------------------
// The runs

/** Every floor and Ansible host made, so that their apps are stopped whatever happens. */
const scriptHosts = [];

function floorHosts(kind, run) {
  return Promise.all(
    Array.from({ length: hostCount }, async (_, i) => {
      const root = path.join(work, kind, `run${run}`, `h${i + 1}`);
      await mkdir(root, { recursive: true });
      const port = await reservePort();
      ports.push(port);
      scriptHosts.push({ root, port });
      return { root, port };
    }),
  );
}

// Stopped with Ctrl-C or a kill: the agents, the server and every app still go.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the agents, the server and the apps…`);
    // A cluster still starting is stopped once it has.
    const stopCluster = clusterStarting?.then((started) => started.stop());
    void Promise.allSettled([stopFloorApps(scriptHosts), stopCluster])
      .then(() => (values.keep ? undefined : rm(work, { recursive: true, force: true })))
      .finally(() => process.exit(130));
  });
}

try {
  if (withAnsible) await ensureAnsible();
  const { dirs, tarballs } = await makeWorkload();
  const config = [
    'environments:',
    ...Array.from(
      { length: runs },
      (_, i) => `  - { name: run${i + 1}, strategy: { batch: '100%', maxFailures: 0 } }`,
    ),
    '',
  ].join('\n');
  clusterStarting = LocalCluster.start({
    root: path.join(work, 'cluster'),
    server: { config },
    agentReadyTimeoutMs: 180_000,
  });
  cluster = await clusterStarting;

  const versions = {};
  for (const version of ['v1', 'v2']) {
    const pushed = await ferryJson(['push', dirs[version], '--label', version]);
    if (pushed.code !== 0) throw new Error(`push ${version}: ${pushed.stdout}${pushed.stderr}`);
    versions[version] = pushed.json.bundle.version;
  }
  const bundleBytes = readFileSync(tarballs.v1).length;
  console.log(
    `${hostCount} hosts, ${runs} runs; ${APP} ${(bundleBytes / 1e6).toFixed(1)} MB ` +
      `(v1 = @${versions.v1}, v2 = @${versions.v2}); ${os.cpus().length} cores, ` +
      `load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );

  for (let run = 1; run <= runs; run++) {
    const env = `run${run}`;
    const names = Array.from({ length: hostCount }, (_, i) => `r${run}-h${i + 1}`);
    const startedAt = Date.now();
    // A few at a time: twenty agents booting at once on a busy machine time out.
    for (let i = 0; i < names.length; i += AGENTS_AT_ONCE) {
      await Promise.all(
        names
          .slice(i, i + AGENTS_AT_ONCE)
          .map((name) => cluster.addHost({ name, env, roles: [APP] })),
      );
    }
    await settle(ferryPids(names));
    console.log(
      `run ${run}: ${hostCount} agents connected and idle in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    const floorRoots = await floorHosts('floor', run);
    const ansibleRoots = withAnsible ? await floorHosts('ansible', run) : [];
    const ansibleDir = path.join(work, 'ansible', `run${run}`);
    const record = { run, rounds: {} };
    results.push(record);
    for (const round of ROUNDS) {
      const entry = {};
      // The order alternates between runs, so neither side always goes first.
      const order = run % 2 === 1 ? ['ferry', 'floor', 'ansible'] : ['floor', 'ansible', 'ferry'];
      for (const side of order) {
        try {
          if (side === 'ferry') entry.ferry = await ferryRound(round, env, versions, names);
          if (side === 'floor') entry.floor = await floorRound(round, floorRoots, tarballs);
          if (side === 'ansible' && withAnsible)
            entry.ansible = await ansibleRound(round, ansibleRoots, tarballs, ansibleDir);
        } catch (err) {
          entry[side] = { ms: NaN, cpu: NaN, problems: [String(err?.stack ?? err)] };
        }
        for (const problem of entry[side]?.problems ?? []) {
          failures.push(`run ${run}, ${ROUND_TITLES[round]}, ${side}: ${problem}`);
          console.error(`FAILED run ${run}, ${ROUND_TITLES[round]}, ${side}: ${problem}`);
        }
      }
      record.rounds[round] = entry;
      const parts = [
        `ferry ${(entry.ferry.ms / 1000).toFixed(2)} s`,
        `floor ${(entry.floor.ms / 1000).toFixed(2)} s`,
        ...(entry.ansible ? [`ansible ${(entry.ansible.ms / 1000).toFixed(2)} s`] : []),
      ];
      console.log(`  ${ROUND_TITLES[round].padEnd(13)} ${parts.join(', ')}`);
    }
    save(undefined);
    // This run's hosts go: their agents, their apps, their folders.
    await Promise.all(names.map((name) => cluster.stopAgent(name)));
    await Promise.all(names.map((name) => stopServices(cluster.host(name).root, 2000)));
    await stopFloorApps(floorRoots);
    await stopFloorApps(ansibleRoots);
    if (!values.keep) {
      await Promise.all(
        names.map((name) => rm(cluster.host(name).root, { recursive: true, force: true })),
      );
      await rm(path.join(work, 'floor', `run${run}`), { recursive: true, force: true });
      await rm(path.join(work, 'ansible', `run${run}`), { recursive: true, force: true });
    }
  }

  report();
} catch (err) {
  failures.push(String(err?.stack ?? err));
  console.error(err);
} finally {
  await stopFloorApps(scriptHosts);
  await cluster?.stop().catch((err) => console.error('stopping the cluster:', err));
  for (const port of ports) releasePort(port);
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
if (failures.length > 0) {
  console.error(`\n${failures.length} failure(s)`);
  process.exitCode = 1;
}

// ---------------------------------------------------------------------------
// The report

function report() {
  const s = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '–');
  const x = (ratio) => (Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–');
  const summary = { rounds: {} };
  console.log(
    `\nMedians of ${runs} run(s), ${hostCount} hosts. Ferry: the command's start to its exit (on the server: the deployment's creation to its end); ratio = Ferry / floor.`,
  );
  const header = [
    'round',
    'floor',
    ...(withAnsible ? ['Ansible'] : []),
    'Ferry',
    'Ferry / floor',
    'target',
    'Ferry on the server (ratio)',
    'per-run ratios',
  ];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const round of ROUNDS) {
    const entries = results.map((r) => r.rounds[round]).filter(Boolean);
    const floor = median(entries.map((e) => e.floor?.ms));
    const ferryMs = median(entries.map((e) => e.ferry?.ms));
    const ansible = median(entries.map((e) => e.ansible?.ms));
    const ratios = entries.map((e) => e.ferry?.ms / e.floor?.ms);
    const serverMs = median(entries.map((e) => e.ferry?.serverMs));
    summary.rounds[round] = {
      floorMs: floor,
      ferryMs,
      ansibleMs: withAnsible ? ansible : undefined,
      ratio: ferryMs / floor,
      ratioPerRun: ratios,
      ferryServerMs: serverMs,
      serverRatio: serverMs / floor,
      target: TARGETS[round],
      cpu: {
        ferry: median(entries.map((e) => e.ferry?.cpu)),
        floor: median(entries.map((e) => e.floor?.cpu)),
        ansible: withAnsible ? median(entries.map((e) => e.ansible?.cpu)) : undefined,
        ferrySplit: Object.fromEntries(
          ['server', 'agents', 'cli'].map((k) => [
            k,
            median(entries.map((e) => e.ferry?.cpuSplit?.[k])),
          ]),
        ),
      },
    };
    console.log(
      `| ${[
        ROUND_TITLES[round],
        s(floor),
        ...(withAnsible ? [`${s(ansible)} (${x(ansible / floor)})`] : []),
        s(ferryMs),
        x(ferryMs / floor),
        `≤ ${TARGETS[round]}×`,
        `${s(serverMs)} (${x(serverMs / floor)})`,
        ratios.map(x).join(' '),
      ].join(' | ')} |`,
    );
  }

  console.log(
    "\nFerry's command, median (s): its start → the deployment created | the deployment's span on the server | its end → the command's exit",
  );
  for (const round of ROUNDS) {
    const entries = results.map((r) => r.rounds[round]?.ferry).filter(Boolean);
    const parts = ['cliBeforeMs', 'serverMs', 'cliAfterMs'].map((k) =>
      median(entries.map((e) => e[k])),
    );
    summary.rounds[round].ferryCommand = {
      cliBeforeMs: parts[0],
      serverMs: parts[1],
      cliAfterMs: parts[2],
    };
    console.log(`  ${ROUND_TITLES[round].padEnd(13)} ${parts.map(s).join(' | ')}`);
  }

  console.log(
    '\nCPU seconds per round (median): Ferry = server + agents + CLI; floor = the script and all it waited for.',
  );
  console.log(
    `| round | floor | ${withAnsible ? 'Ansible | ' : ''}Ferry | Ferry / floor | Ferry: server / agents / CLI |`,
  );
  console.log(`| --- | --- | ${withAnsible ? '--- | ' : ''}--- | --- | --- |`);
  for (const round of ROUNDS) {
    const { cpu } = summary.rounds[round];
    const split = ['server', 'agents', 'cli'].map((k) => cpu.ferrySplit[k].toFixed(2)).join(' / ');
    console.log(
      `| ${ROUND_TITLES[round]} | ${cpu.floor.toFixed(2)} | ${withAnsible ? `${cpu.ansible.toFixed(2)} | ` : ''}${cpu.ferry.toFixed(2)} | ${x(cpu.ferry / cpu.floor)} | ${split} |`,
    );
  }

  console.log(
    "\nFerry per host, median across hosts and runs (ms): queue = deployment created → install started; each step as the agent timed it; gaps = install time outside its steps (its end as recorded included); end lag = a step's end on the agent → recorded by the server.",
  );
  for (const round of ROUNDS) {
    const installs = results.flatMap((r) => r.rounds[round]?.ferry?.installs ?? []);
    if (installs.length === 0) continue;
    const order = [];
    for (const install of installs)
      for (const step of install.order) if (!order.includes(step)) order.push(step);
    const total = median(installs.map((i) => i.total));
    const cells = [
      ['queue', median(installs.map((i) => i.queue))],
      // The last host of each run to start: hosts held back (a check that timed out) show here.
      [
        'last queue',
        median(
          results.map((r) =>
            Math.max(...(r.rounds[round]?.ferry?.installs ?? []).map((i) => i.queue)),
          ),
        ),
      ],
      ...order.map((step) => [step, median(installs.map((i) => i.steps[step]))]),
      ['gaps', median(installs.map((i) => i.gaps))],
      ['end lag', median(installs.map((i) => i.endLag))],
      ['install', total],
    ];
    summary.rounds[round].ferrySteps = Object.fromEntries(cells);
    const floorHostsAll = results.flatMap((r) => r.rounds[round]?.floor?.hosts ?? []);
    const floorSteps = Object.fromEntries(
      ['unpack', 'switch', 'stop', 'start', 'health'].map((step) => [
        step,
        median(floorHostsAll.map((h) => h.steps[step])),
      ]),
    );
    summary.rounds[round].floorSteps = floorSteps;
    console.log(`  ${ROUND_TITLES[round]}:`);
    console.log(
      `    Ferry  ${cells.map(([name, ms]) => `${name} ${Number.isFinite(ms) ? Math.round(ms) : '–'}`).join(', ')}`,
    );
    console.log(
      `    floor  ${Object.entries(floorSteps)
        .map(([name, ms]) => `${name} ${Number.isFinite(ms) ? Math.round(ms) : '–'}`)
        .join(', ')}`,
    );
  }

  // Written after the report is printed: a bad path costs the file, not the figures.
  save(summary);
}

/** Writes --out: after each run (without a summary, `partial`), and at the end. */
function save(summary) {
  if (!values.out) return;
  const out = {
    hosts: hostCount,
    runs,
    sizeMb,
    bundleBytes: readFileSync(tarballsPath()).length,
    cpuModel: cpuModel(),
    cores: os.cpus().length,
    loadavg: os.loadavg(),
    node: process.version,
    at: new Date().toISOString(),
    partial: summary === undefined,
    summary,
    results,
    failures,
  };
  writeFileSyncSafe(values.out, JSON.stringify(out, null, 2), summary !== undefined);
}

function tarballsPath() {
  return path.join(work, `${APP}-v1.tar.gz`);
}

function cpuModel() {
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('model name'));
  return line ? line.split(':')[1].trim() : 'unknown';
}

function writeFileSyncSafe(file, text, say) {
  try {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    writeFileSync(file, text);
    if (say) console.log(`\nwrote ${file}`);
  } catch (err) {
    failures.push(`--out ${file}: ${err.message}`);
  }
}
