#!/usr/bin/env node
// Simulated agents: N hosts that enrol with a real agent-role token, hold the
// real built-in transport's WebSocket to a real `ferry server`
// (BuiltinAgentTransport, the agent's own) — or, given `transport`, the
// agent's RabbitMQ transport with the host's own broker user — ask whether each job is still
// wanted as an agent does (on the built-in transport's connection, else over HTTPS), and report each install through the protocol —
// every step's start and end, its output, the job's end, then the host's facts
// with the new release current — without running anything: no download, no
// unpack, no service. So a thousand hosts fit on one machine, and the server
// does all the work it does for real ones.
//
// Imported by bench/dashboard-bench.mjs and bench/host-simulator.mjs
// (`SimulatedFleet`); also runnable, to
// put a fleet beside a server of your own:
//
//   node bench/sim-agents.mjs --server URL --token-file FILE --env qa --hosts 100 [--roles web,api] [--prefix sim]
//     (the token: `ferry tokens create --role agent --env qa`)
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FerryClient } from '../dist/client/ferry-client.js';
import { askWanted } from '../dist/agent/install-wanted.js';
import { PROTOCOL_VERSION } from '../dist/protocol/messages.js';
import { BuiltinAgentTransport } from '../dist/transport/builtin/builtin-agent-transport.js';
import { harnessTrust } from '../dist/dev/harness-trust.js';

/** The steps an install without migrations reports, in the agent's order. */
export const INSTALL_STEPS = [
  'prepare',
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

/** The transport's logger, quiet but for errors (a refused connection says why). */
const quiet = {
  info: () => undefined,
  warn: () => undefined,
  error: (details, message) =>
    console.error(
      `sim agent: ${message}`,
      JSON.stringify({ ...details, err: details.err?.message ?? details.err }),
    ),
};

/**
 * One simulated host. `pace(job, host)` says how it runs an install: the
 * steps to report (`steps`), the time each takes (`stepMs`), and `hold`, a
 * promise the job waits on — before its first step, or once step number
 * `holdAt` has started (a host at work). With `detach`, the job stops there
 * for good and is acknowledged: a rollout kept under way.
 */
class SimulatedAgent {
  /** What it runs, by app: the releases it holds and the current one. */
  apps = new Map();
  connected = false;
  /** Every job handled (acknowledged), by id. */
  handled = new Set();

  constructor(identity, options) {
    this.identity = identity;
    this.options = options;
    this.transport =
      options.transport?.(identity, quiet) ??
      new BuiltinAgentTransport({
        tls: harnessTrust().tlsOptions(),
        server: identity.server,
        token: identity.token,
        logger: quiet,
      });
  }

  start() {
    this.transport.onConnection((connected) => {
      this.connected = connected;
      if (connected) this.reportFacts();
    });
    this.transport.start((job) => this.handle(job));
  }

  reportFacts() {
    const apps = {};
    for (const [app, run] of this.apps)
      apps[app] = {
        releases: run.releases,
        current: run.current,
        previous: run.previous,
        health: 'ok',
        service: {
          running: true,
          pid: 1000,
          uptimeSeconds: 60,
          mergedOutput: false,
          stdoutBytes: 0,
        },
        config: { installId: run.installId, deploymentId: run.deploymentId, vars: [] },
      };
    this.transport.emit({
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      type: 'facts',
      facts: {
        factsVersion: 2,
        collectedAt: new Date().toISOString(),
        hostname: this.identity.name,
        os: 'Debian GNU/Linux 12 (bookworm)',
        kernel: 'Linux 6.1.0-28-amd64',
        platform: 'linux',
        arch: 'x64',
        cpus: 4,
        memory: { totalBytes: 8 * 2 ** 30, freeBytes: 4 * 2 ** 30 },
        disks: [{ mount: '/', sizeBytes: 80 * 2 ** 30, freeBytes: 40 * 2 ** 30 }],
        load: [0.4, 0.5, 0.6],
        runtimes: { node: '20.11.1', npm: '10.2.4', python3: '3.11.2', pip: '23.0.1' },
        agentVersion: 'sim',
        roles: this.identity.roles,
        busy: this.busy ?? null,
        apps,
      },
    });
  }

  emit(body) {
    this.transport.emit({ v: PROTOCOL_VERSION, id: randomUUID(), ...body });
  }

  async handle(job) {
    if (this.handled.has(job.id)) {
      // Delivered again after it was reported: its end is sent again, as the journal would.
      this.emit({ type: 'job.finished', jobId: job.id, ok: true, rolledBack: false, error: null });
      await this.transport.drain();
      return;
    }
    // As a real agent asks: on its connection when the transport can, else over HTTPS.
    const wanted = await askWanted(
      { ...this.identity, clientOptions: harnessTrust().clientOptions() },
      job.id,
      { onConnection: this.transport.askWanted?.bind(this.transport) },
    );
    if (!wanted.proceed) {
      this.emit({
        type: 'job.finished',
        jobId: job.id,
        ok: false,
        rolledBack: false,
        error: `not run: ${wanted.reason ?? 'not wanted'}`,
        declined: true,
      });
      await this.transport.drain();
      this.handled.add(job.id);
      return;
    }
    const pace = this.options.pace(job, this.identity);
    this.busy = job.id;
    for (const [index, step] of pace.steps.entries()) {
      // Held before its first step, or once the step `holdAt` has started.
      if (pace.hold && index === 0 && pace.holdAt === undefined) await pace.hold;
      const started = Date.now();
      this.emit({ type: 'step.started', jobId: job.id, step, at: new Date().toISOString() });
      if (pace.hold && index === pace.holdAt) {
        if (pace.detach) {
          // An install left under way for good, without holding up the host's
          // later jobs (a real agent would be busy with it: the bench wants the
          // rollout under way, not the host's other apps stuck).
          this.busy = null;
          await this.transport.drain();
          this.handled.add(job.id);
          return;
        }
        await pace.hold;
      }
      if (step === 'install')
        this.emit({
          type: 'step.output',
          jobId: job.id,
          step,
          stream: 'stdout',
          seq: 0,
          text: `added 212 packages in 4s (${job.app}@${job.version} on ${this.identity.name})\n`,
        });
      if (pace.stepMs > 0) await new Promise((resolve) => setTimeout(resolve, pace.stepMs));
      this.emit({
        type: 'step.finished',
        jobId: job.id,
        step,
        ok: true,
        exitCode: step === 'install' ? 0 : null,
        durationMs: Date.now() - started,
        error: null,
      });
    }
    const run = this.apps.get(job.app);
    const releases = [...new Set([...(run?.releases ?? []), job.version])].slice(-5);
    this.apps.set(job.app, {
      releases,
      current: job.version,
      previous: run?.current ?? null,
      installId: job.installId,
      deploymentId: job.deploymentId ?? null,
    });
    this.busy = null;
    this.emit({ type: 'job.finished', jobId: job.id, ok: true, rolledBack: false, error: null });
    // Acknowledged once the server has its end, as a real agent's job is.
    await this.transport.drain();
    this.handled.add(job.id);
    this.reportFacts();
  }

  async close() {
    await this.transport.close();
  }
}

/**
 * A fleet of simulated hosts against one server.
 *
 * @example
 *   const fleet = await SimulatedFleet.enrol(url, [{ name: 'qa-001', env: 'qa', roles: ['web'] }], {
 *     enrolmentToken: (env) => tokens[env],
 *   });
 *   fleet.start();
 *   await fleet.connected();
 *   await fleet.close();
 */
export class SimulatedFleet {
  constructor(agents) {
    this.agents = agents;
  }

  /**
   * Enrols every host (`POST /agents/enroll` with its environment's
   * enrolment token, `concurrency` at a time) and makes its agent; none
   * connects before `start()`. `transport(identity, logger)`, when given,
   * makes each host's agent transport (the built-in WebSocket otherwise);
   * `beforeTransports(identities)` runs once every host is enrolled and
   * before any transport is made (to create the hosts' broker users).
   */
  static async enrol(server, hosts, options) {
    const pace = options.pace ?? (() => ({ steps: INSTALL_STEPS, stepMs: 0, hold: undefined }));
    let next = 0;
    const worker = async () => {
      while (next < hosts.length) {
        const index = next++;
        const host = hosts[index];
        const client = new FerryClient(
          server,
          options.enrolmentToken(host.env),
          harnessTrust().clientOptions(),
        );
        const enrolled = await client.call('enroll', {
          body: { name: host.name, env: host.env, roles: host.roles, vars: {} },
        });
        identities[index] = {
          server,
          hostId: enrolled.hostId,
          name: enrolled.name,
          env: host.env,
          roles: host.roles,
          token: enrolled.token,
        };
      }
    };
    const identities = new Array(hosts.length);
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
    await options.beforeTransports?.(identities);
    return new SimulatedFleet(
      identities.map(
        (identity) => new SimulatedAgent(identity, { pace, transport: options.transport }),
      ),
    );
  }

  /** Connects every agent: each reports its facts once its connection is up. */
  start() {
    for (const agent of this.agents) agent.start();
  }

  /** How many hold a live connection now. */
  connectedCount() {
    return this.agents.filter((a) => a.connected).length;
  }

  /** Stops every agent; a job held (a rollout kept under way) is left unacknowledged. */
  async close() {
    await Promise.all(this.agents.map((a) => a.close()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      'token-file': { type: 'string' },
      env: { type: 'string', default: 'qa' },
      hosts: { type: 'string', default: '10' },
      roles: { type: 'string', default: 'web' },
      prefix: { type: 'string', default: 'sim' },
      'step-ms': { type: 'string', default: '20' },
    },
  });
  if (!values.server || !values['token-file']) {
    console.error(
      'usage: node bench/sim-agents.mjs --server URL --token-file FILE [--env qa] [--hosts 10] [--roles web] [--prefix sim] [--step-ms 20]',
    );
    process.exit(2);
  }
  const token = (await readFile(values['token-file'], 'utf8')).trim();
  const count = Number(values.hosts);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`--hosts: expected a count, got ${values.hosts}`);
  const hosts = Array.from({ length: count }, (_, i) => ({
    name: `${values.prefix}-${values.env}-${String(i + 1).padStart(4, '0')}`,
    env: values.env,
    roles: values.roles.split(','),
  }));
  const stepMs = Number(values['step-ms']);
  const fleet = await SimulatedFleet.enrol(values.server, hosts, {
    enrolmentToken: () => token,
    pace: () => ({ steps: INSTALL_STEPS, stepMs }),
  });
  fleet.start();
  console.log(`${count} simulated hosts in ${values.env} (${values.roles}); Ctrl-C stops them`);
  process.once('SIGINT', () => void fleet.close().then(() => process.exit(0)));
}
