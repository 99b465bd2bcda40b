#!/usr/bin/env node
// Lean-agent benchmark: how much memory and CPU does an idle `ferry agent` hold?
// For each transport (the server's WebSocket, and RabbitMQ when a broker answers),
// starts a real `ferry server` and one real agent on this machine (the
// local-cluster harness), lets it settle, then samples the agent process's
// resident memory (VmRSS in /proc/<pid>/status, once a second) and its CPU
// (utime + stime in /proc/<pid>/stat) over --idle seconds. Then it deploys the
// example app (examples/hello, real npm install) and measures again with the
// app running. Only the agent's own process is measured, never its app's.
//
//   node bench/agent-memory.mjs [--idle 30] [--settle 5] [--transports builtin,rabbitmq]
//                               [--amqp-url amqp://guest:guest@127.0.0.1:5672] [--no-app]
//   node bench/agent-memory.mjs --modules   # which modules the agent loaded, by package
//
// With --modules the agent runs with bench/module-trace.mjs preloaded, whose own
// loader thread costs memory: its RSS figures are not comparable, and are not shown.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';

const EXAMPLE = fileURLToPath(new URL('../examples/hello', import.meta.url));
const TRACER = fileURLToPath(new URL('./module-trace.mjs', import.meta.url));
const DIST = path.dirname(FERRY_MAIN);
/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const CLOCK_TICKS = 100;
/** Modules an agent should not load, or only with the transport that needs them. */
const HEAVY = [
  'pg',
  'better-sqlite3',
  'kysely',
  'fastify',
  'pkijs',
  'asn1js',
  'amqplib',
  'yaml',
  'ignore',
  'tar-stream',
  'node:internal/deps/undici/undici',
];

const { values } = parseArgs({
  options: {
    idle: { type: 'string', default: '30' },
    settle: { type: 'string', default: '5' },
    transports: { type: 'string', default: 'builtin,rabbitmq' },
    'amqp-url': {
      type: 'string',
      default: process.env.FERRY_TEST_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
    },
    'no-app': { type: 'boolean', default: false },
    modules: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const idleSeconds = Number(values.idle);
const settleSeconds = Number(values.settle);
const transports = values.transports.split(',').filter(Boolean);
for (const t of transports) {
  if (t !== 'builtin' && t !== 'rabbitmq') throw new Error(`--transports: unknown transport ${t}`);
}
if (!(idleSeconds > 0) || !(settleSeconds >= 0)) throw new Error('--idle and --settle are seconds');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * VmRSS, VmHWM and RssAnon of a process, in KiB. RssAnon is its own memory;
 * the rest of VmRSS is mostly the pages of the `node` binary it has touched,
 * which every Node process on the machine shares.
 */
async function memoryOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), anon: kib('RssAnon') };
}

/** utime + stime of a process, in clock ticks. */
async function cpuTicksOf(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`;

/** Lets the agent settle, then samples its memory each second and its CPU over the window. */
async function measureIdle(pid) {
  await sleep(settleSeconds * 1000);
  const rss = [];
  const anon = [];
  const ticksBefore = await cpuTicksOf(pid);
  const startedAt = Date.now();
  for (let i = 0; i < idleSeconds; i++) {
    const sample = await memoryOf(pid);
    rss.push(sample.rss);
    anon.push(sample.anon);
    await sleep(1000);
  }
  const ticks = (await cpuTicksOf(pid)) - ticksBefore;
  const seconds = (Date.now() - startedAt) / 1000;
  const { hwm } = await memoryOf(pid);
  return {
    rssMedianKiB: median(rss),
    rssMaxKiB: Math.max(...rss),
    anonMedianKiB: median(anon),
    hwmKiB: hwm,
    cpuMs: (ticks * 1000) / CLOCK_TICKS,
    seconds,
  };
}

function answers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 5672) });
    socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Deletes the exchanges and queues of a prefix, so that the broker keeps nothing of the run. */
async function deleteTopology(url, prefix, hostIds) {
  const { default: amqp } = await import('amqplib');
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of [`${prefix}.events`, ...hostIds.map((h) => `${prefix}.host.${h}`)]) {
      await channel.deleteQueue(queue);
    }
    await channel.deleteExchange(`${prefix}.jobs`);
    await channel.deleteExchange(`${prefix}.events`);
    await channel.close();
  } finally {
    await connection.close();
  }
}

function runFerry(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`ferry ${args.join(' ')}: ${output}`)),
    );
  });
}

/** The loaded modules of a trace, counted by package (or by folder of Ferry's own). */
async function modulesOf(traceFile) {
  const lines = new Set((await readFile(traceFile, 'utf8')).split('\n').filter(Boolean));
  const counts = new Map();
  for (const line of lines) {
    const file = line.startsWith('file://') ? fileURLToPath(line) : line;
    if (file === TRACER || (file.startsWith('node:') && !file.startsWith('node:internal/deps/')))
      continue;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
    const key = pkg
      ? pkg
      : file.startsWith(DIST)
        ? `ferry:${path.relative(DIST, file).split(path.sep).slice(0, -1).join('/') || '.'}`
        : file;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

async function measureTransport(transport) {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-agent-memory-'));
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const hostIds = [];
  const amqpUrl = values['amqp-url'];
  const traceFile = path.join(work, 'modules.trace');
  const agentEnv = {
    ...(transport === 'rabbitmq' ? { FERRY_TRANSPORT_URL: amqpUrl } : {}),
    ...(values.modules
      ? { NODE_OPTIONS: `--import=${TRACER}`, FERRY_MODULE_TRACE: traceFile }
      : {}),
  };
  const cluster = await LocalCluster.start({
    root: work,
    server: {
      config:
        'environments:\n  - name: qa\n' +
        (transport === 'rabbitmq'
          ? `transport: { kind: rabbitmq, url: '${amqpUrl}', prefix: ${prefix} }\n`
          : ''),
    },
    ...(transport === 'rabbitmq' ? { agentArgs: () => ['--transport-prefix', prefix] } : {}),
    agentEnv,
    onHostEnrolled: (id) => hostIds.push(id),
  });
  const result = { transport };
  try {
    const host = await cluster.addHost({ name: 'qa-1', env: 'qa', roles: ['hello'] });
    const pid = host.agent.child.pid;
    result.idle = await measureIdle(pid);
    if (!values['no-app']) {
      const env = {
        FERRY_SERVER: cluster.url,
        FERRY_CA_FILE: cluster.server.caFile,
        FERRY_TOKEN: cluster.server.adminToken,
        FERRY_CONFIG_DIR: path.join(work, 'cli'),
      };
      const source = path.join(work, 'src');
      await cp(EXAMPLE, source, { recursive: true });
      const pushed = JSON.parse(await runFerry(['push', source, '--json'], env));
      const deployed = JSON.parse(
        await runFerry(['deploy', `hello@${pushed.bundle.version}`, '--env', 'qa', '--json'], env),
      );
      if (deployed.state !== 'succeeded') throw new Error(`the deployment ${deployed.state}`);
      result.app = await measureIdle(pid);
    }
    if (values.modules) {
      // The trace's CommonJS part is written as the agent exits.
      await cluster.stopAgent('qa-1');
      result.modules = await modulesOf(traceFile);
    }
  } finally {
    await cluster.stop();
    if (transport === 'rabbitmq') await deleteTopology(amqpUrl, prefix, hostIds).catch(() => {});
    if (!values.keep) await rm(work, { recursive: true, force: true });
  }
  return result;
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `${os.cpus().length} cores (${cpu}), Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; idle window ${idleSeconds} s after ${settleSeconds} s to settle\n`,
);

const results = [];
for (const transport of transports) {
  if (transport === 'rabbitmq' && !(await answers(values['amqp-url']))) {
    console.log(`rabbitmq: skipped, nothing answers at ${new URL(values['amqp-url']).host}\n`);
    continue;
  }
  results.push(await measureTransport(transport));
}

if (!values.modules) {
  console.log(
    '| transport | agent | RSS median | RSS max | peak (VmHWM) | own (RssAnon) median | CPU over the window |',
  );
  console.log(
    '| --------- | ----- | ---------- | ------- | ------------ | -------------------- | ------------------- |',
  );
  for (const r of results) {
    for (const [label, m] of [
      ['idle, no app', r.idle],
      ['idle, app running', r.app],
    ]) {
      if (!m) continue;
      console.log(
        `| ${r.transport} | ${label} | ${mib(m.rssMedianKiB)} | ${mib(m.rssMaxKiB)} | ${mib(m.hwmKiB)} | ${mib(m.anonMedianKiB)} | ${m.cpuMs} ms in ${m.seconds.toFixed(0)} s |`,
      );
    }
  }
} else {
  for (const r of results) {
    const counts = [...r.modules].sort((a, b) => b[1] - a[1]);
    const total = counts.reduce((n, [, c]) => n + c, 0);
    console.log(`${r.transport}: ${total} modules loaded`);
    for (const [key, count] of counts) console.log(`  ${String(count).padStart(4)}  ${key}`);
    const heavy = HEAVY.filter((name) => r.modules.has(name));
    console.log(`  heavy: ${heavy.length ? heavy.join(', ') : 'none'}\n`);
  }
}
