#!/usr/bin/env node
// A thousand hosts per server (issue 18 part 8). N simulated hosts
// (bench/sim-agents.mjs: real enrolment, the agent's own transport, the real
// "is it still wanted?" question, every step's start and end, the job's end
// and the host's facts — no work done) against one real `ferry server`, over
// the built-in WebSocket transport or RabbitMQ (`--transport rabbitmq`: each
// host connects as its own broker user, with exactly the permissions
// docs/rabbitmq.md gives a host's user). It pushes a tiny bundle, deploys it
// to every host at batch 100%, and reports:
//
// - the time from the first connection attempt to every host connected;
// - the deployment's time from its start to its recorded success (the
//   server's own startedAt → finishedAt), and as the bench saw it;
// - `ferry status` (GET /api/v1/status, what the CLI asks) latency sampled
//   back to back during the deployment: median, p95, max;
// - the server's RSS and CPU seconds from /proc/<server pid>: idle with every
//   host connected (over --idle-seconds) and during the deployment.
//
// Exits non-zero if any host's install does not end succeeded — never on a time.
//
//   npm run build && node bench/host-simulator.mjs [--hosts 1000] [--transport builtin|rabbitmq]
//     [--amqp-url amqp://guest:guest@127.0.0.1:5672] [--out bench/out/host-simulator.json]
//     [--server URL --token-file FILE]   (a server of your own: its token must be an admin's;
//                                         its RSS and CPU are then not measured)
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { createBundle } from '../dist/bundle/pack.js';
import { FerryClient } from '../dist/client/ferry-client.js';
import { pushBundleFile } from '../dist/client/node-transfers.js';
import { LocalServer } from '../dist/dev/local-server.js';
import { harnessTrust } from '../dist/dev/harness-trust.js';
import { RabbitmqAgentTransport } from '../dist/transport/rabbitmq/rabbitmq-agent-transport.js';
import { Topology } from '../dist/transport/rabbitmq/topology.js';
import { INSTALL_STEPS, SimulatedFleet } from './sim-agents.mjs';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    transport: { type: 'string', default: 'builtin' },
    'amqp-url': { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    server: { type: 'string' },
    'token-file': { type: 'string' },
    out: { type: 'string', default: 'bench/out/host-simulator.json' },
    'idle-seconds': { type: 'string', default: '5' },
    /** How long each step takes on a simulated host (0: as fast as the server takes them). */
    'step-ms': { type: 'string', default: '0' },
    /** NODE_OPTIONS for the server (`--cpu-prof --cpu-prof-dir=…`, to profile it). */
    'server-node-options': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const whole = (name, min) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name}: expected a whole number of at least ${min}, got ${values[name]}`);
  return n;
};
const hostCount = whole('hosts', 1);
const idleSeconds = whole('idle-seconds', 1);
const stepMs = whole('step-ms', 0);
if (!['builtin', 'rabbitmq'].includes(values.transport))
  throw new Error(`--transport: expected builtin or rabbitmq, got ${values.transport}`);
if ((values.server === undefined) !== (values['token-file'] === undefined))
  throw new Error('--server and --token-file go together (an admin token in the file)');
if (values.server && values.transport === 'rabbitmq')
  throw new Error(
    '--transport rabbitmq: only with a server this bench starts (it sets its broker)',
  );

const ENV = 'sim';
const APP = 'tiny';
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const started = performance.now();
const log = (line) =>
  console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);
const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
};
const round = (x, digits = 1) => (x === null ? null : Number(x.toFixed(digits)));

/** The server's resident memory (MiB) and CPU seconds so far, from /proc. */
function serverUsage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  // utime and stime are fields 14 and 15, after the command's closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: rssKiB / 1024, cpuSeconds: ticks / 100 };
}

/** Samples the server's RSS every 100 ms until stopped: the peak and the last. */
function rssSampler(pid) {
  let peak = 0;
  let last = 0;
  const timer = setInterval(() => {
    try {
      last = serverUsage(pid).rssMiB;
      peak = Math.max(peak, last);
    } catch {
      // Exited: the bench fails elsewhere.
    }
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return { peakMiB: round(peak), lastMiB: round(last) };
    },
  };
}

/**
 * Polls `check` until it answers; a poll that fails (a server too busy to take
 * the connection) is tried again at the next, until the deadline.
 */
async function until(what, timeoutMs, check, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (lastError ? ` (the last poll failed: ${lastError.message})` : ''),
      );
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A broker password as RabbitMQ stores it (rabbit_password_hashing_sha256). */
function brokerPasswordHash(password) {
  const salt = randomBytes(4);
  const hash = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, hash]).toString('base64');
}

/**
 * One broker user per host, named after its host id (the server checks that an
 * event's user-id is its host's), with a host's permissions: all of them in one
 * `rabbitmqctl import_definitions` (one rabbitmqctl call each would take minutes).
 */
async function createBrokerUsers(identities, prefix, brokerUrl) {
  const topology = new Topology(prefix);
  const users = [];
  const permissions = [];
  for (const identity of identities) {
    const password = randomBytes(18).toString('base64url');
    users.push({
      name: identity.hostId,
      password_hash: brokerPasswordHash(password),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: [],
    });
    permissions.push({
      user: identity.hostId,
      vhost: '/',
      ...topology.hostPermissions(identity.hostId),
    });
    const own = new URL(brokerUrl);
    own.username = identity.hostId;
    own.password = password;
    identity.brokerUrl = own.toString();
  }
  // rabbitmqctl runs as the broker's own user (Debian's wrapper switches to it):
  // the file is in a folder of that user's, which only it and root can read.
  const { stdout } = await run('id', ['-u', 'rabbitmq']);
  const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-broker-users-'));
  try {
    await chown(dir, Number(stdout), Number(gid));
    const file = path.join(dir, 'definitions.json');
    await writeFile(file, JSON.stringify({ users, permissions }), { mode: 0o600 });
    await chown(file, Number(stdout), Number(gid));
    await run('rabbitmqctl', ['import_definitions', file], { timeout: 300_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function deleteBrokerUsers(names) {
  if (names.length === 0) return;
  const list = names.map((n) => `<<"${n}">>`).join(',');
  await run(
    'rabbitmqctl',
    [
      'eval',
      `[rabbit_auth_backend_internal:delete_user(U, <<"ferry-host-simulator">>) || U <- [${list}]], ok.`,
    ],
    { timeout: 300_000 },
  );
}

async function deleteBrokerTopology(url, prefix, hostIds) {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of [`${prefix}.events`, ...hostIds.map((h) => `${prefix}.host.${h}`)])
      await channel.deleteQueue(queue);
    await channel.deleteExchange(`${prefix}.jobs`);
    await channel.deleteExchange(`${prefix}.events`);
    await channel.close();
  } finally {
    await connection.close();
  }
}

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-host-simulator-'));
const prefix = `sim${randomBytes(4).toString('hex')}`;
let server;
let fleet;
let brokerUsers = [];
let hostIds = [];
let failed = false;
const result = {
  date: new Date().toISOString(),
  machine: {
    cpu,
    cores: os.cpus().length,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => round(x, 2)),
  },
  command: `node bench/host-simulator.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  hosts: hostCount,
  transport: values.transport,
};
try {
  let url;
  let adminToken;
  let pid;
  if (values.server) {
    url = values.server;
    adminToken = (await readFile(values['token-file'], 'utf8')).trim();
  } else {
    const transport =
      values.transport === 'rabbitmq'
        ? `transport: { kind: rabbitmq, url: '${values['amqp-url']}', prefix: ${prefix} }\n`
        : '';
    server = await LocalServer.start({
      data: path.join(work, 'server'),
      config: `${transport}environments:\n  - { name: ${ENV}, strategy: { batch: '100%' } }\n`,
      readyTimeoutMs: 120_000,
      ...(values['server-node-options']
        ? { env: { NODE_OPTIONS: values['server-node-options'] } }
        : {}),
    });
    url = server.url;
    adminToken = server.adminToken;
    pid = server.child.pid;
  }
  const admin = new FerryClient(url, adminToken, harnessTrust().clientOptions());
  log(`server at ${url} (${values.transport})`);

  const enrolment = (
    await admin.call('createToken', { body: { role: 'agent', env: ENV, name: `enrol-${prefix}` } })
  ).token;
  const hosts = Array.from({ length: hostCount }, (_, i) => ({
    name: `${prefix}-${String(i + 1).padStart(5, '0')}`,
    env: ENV,
    roles: [APP],
  }));
  const enrolStart = performance.now();
  fleet = await SimulatedFleet.enrol(url, hosts, {
    enrolmentToken: () => enrolment,
    pace: () => ({ steps: INSTALL_STEPS, stepMs }),
    ...(values.transport === 'rabbitmq'
      ? {
          beforeTransports: async (identities) => {
            // Named first: their queues (the server made them) go at the end, users or not.
            hostIds = identities.map((i) => i.hostId);
            await createBrokerUsers(identities, prefix, values['amqp-url']);
            brokerUsers = hostIds;
          },
          transport: (identity, logger) =>
            new RabbitmqAgentTransport({
              url: identity.brokerUrl,
              hostId: identity.hostId,
              prefix,
              logger,
            }),
        }
      : {}),
  });
  result.enrolSeconds = round((performance.now() - enrolStart) / 1000);
  log(`${hostCount} hosts enrolled in ${result.enrolSeconds} s`);

  const connectStart = performance.now();
  fleet.start();
  await until(
    'every simulated host connected',
    600_000,
    async () => {
      const { environments } = await admin.call('environments', {});
      return environments.find((e) => e.name === ENV)?.connectedHosts === hostCount;
    },
    100,
  );
  result.connectSeconds = round((performance.now() - connectStart) / 1000);
  log(`${hostCount} hosts connected in ${result.connectSeconds} s`);

  // Idle, every host connected: its memory and what it spends doing nothing.
  if (pid) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const before = serverUsage(pid);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const after = serverUsage(pid);
    result.idle = {
      seconds: idleSeconds,
      rssMiB: round(after.rssMiB),
      cpuSeconds: round(after.cpuSeconds - before.cpuSeconds, 2),
      cpuShare: round((after.cpuSeconds - before.cpuSeconds) / idleSeconds, 3),
    };
    log(`idle: RSS ${result.idle.rssMiB} MiB, ${result.idle.cpuSeconds} CPU s in ${idleSeconds} s`);
  }

  // A tiny bundle: the hosts do nothing with it but say they did.
  const dir = path.join(work, 'src');
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'ferry.yml'),
    `apps:\n  ${APP}:\n    service: { command: node server.js }\n`,
  );
  await writeFile(path.join(dir, 'server.js'), `console.log('tiny');\n`);
  const bundle = await createBundle({
    sourceDir: dir,
    app: APP,
    label: '1.0.0',
    out: path.join(work, `${APP}.tar.gz`),
  });
  const pushed = await pushBundleFile(admin, bundle.file, { label: '1.0.0' });
  const version = pushed.bundle.version;

  // The deployment, and `ferry status` asked back to back while it runs.
  const latencies = [];
  let statusErrors = 0;
  let deploying = true;
  const sampler = (async () => {
    while (deploying) {
      const t0 = performance.now();
      try {
        await admin.call('status', { query: {} });
        latencies.push(performance.now() - t0);
      } catch {
        statusErrors++;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const rss = pid ? rssSampler(pid) : undefined;
  const usageBefore = pid ? serverUsage(pid) : undefined;
  const deployStart = performance.now();
  const deployment = await admin.call('deploy', { body: { app: APP, version, env: ENV } });
  const record = await until(
    'the deployment to end',
    600_000,
    async () => {
      const d = await admin.call('deployment', { params: { id: deployment.id } });
      return ['pending', 'running'].includes(d.state) ? undefined : d;
    },
    100,
  );
  const seenSeconds = (performance.now() - deployStart) / 1000;
  deploying = false;
  await sampler;
  const usageAfter = pid ? serverUsage(pid) : undefined;
  const states = {};
  for (const install of record.installs) states[install.state] = (states[install.state] ?? 0) + 1;
  result.deployment = {
    id: record.id,
    state: record.state,
    installs: record.installs.length,
    installStates: states,
    recordedSeconds:
      record.startedAt && record.finishedAt
        ? round((Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000, 2)
        : null,
    seenSeconds: round(seenSeconds, 2),
    ...(pid
      ? {
          server: {
            cpuSeconds: round(usageAfter.cpuSeconds - usageBefore.cpuSeconds, 2),
            rss: rss.stop(),
          },
        }
      : {}),
  };
  result.status = {
    samples: latencies.length,
    errors: statusErrors,
    medianMs: round(quantile(latencies, 0.5)),
    p95Ms: round(quantile(latencies, 0.95)),
    maxMs: round(latencies.length ? Math.max(...latencies) : null),
  };
  log(
    `deployment ${record.state}: ${JSON.stringify(states)}; recorded ${result.deployment.recordedSeconds} s ` +
      `(seen ${result.deployment.seenSeconds} s)` +
      (pid
        ? `; server ${result.deployment.server.cpuSeconds} CPU s, RSS peak ${result.deployment.server.rss.peakMiB} MiB`
        : ''),
  );
  log(
    `ferry status during it: median ${result.status.medianMs} ms, p95 ${result.status.p95Ms} ms, ` +
      `max ${result.status.maxMs} ms (${latencies.length} samples, ${statusErrors} errors)`,
  );
  const succeeded = states.succeeded ?? 0;
  if (
    record.state !== 'succeeded' ||
    succeeded !== hostCount ||
    record.installs.length !== hostCount
  ) {
    failed = true;
    console.error(
      `FAILED: ${succeeded} of ${hostCount} hosts ended succeeded (deployment ${record.state}: ${(record.error ?? '').slice(0, 400)})`,
    );
  }
  result.ok = !failed;
  result.machine.loadAverageAtEnd = os.loadavg().map((x) => round(x, 2));
  await mkdir(path.dirname(values.out), { recursive: true });
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  log(`written to ${values.out}`);
} catch (err) {
  failed = true;
  console.error(err);
  if (server) console.error(server.output().slice(-4000));
} finally {
  await fleet?.close().catch((err) => console.error('closing the fleet:', err));
  if (server) await server.stop({ keepData: values.keep });
  if (values.transport === 'rabbitmq') {
    await deleteBrokerTopology(values['amqp-url'], prefix, hostIds).catch((err) =>
      console.error('deleting the broker topology:', err.message),
    );
    await deleteBrokerUsers(brokerUsers).catch((err) =>
      console.error('deleting the broker users:', err.message),
    );
  }
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
process.exit(failed ? 1 : 0);
