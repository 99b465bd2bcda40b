import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqSetup } from './helpers/backends.js';
import { Cluster, type ClusterOptions, waitFor } from './helpers/cluster.js';
import { envAppTree } from './helpers/env-app.js';
import { amqpUrl } from './helpers/services.js';

/**
 * A lean agent (issue 18 part 5): a real `ferry agent`, started with
 * bench/module-trace.mjs preloaded, connects, reports its facts and stops; the
 * trace of what it loaded must not hold the server's modules, the database
 * drivers, the CLI's command tree, the CA's certificate library, the install
 * steps (not before a job comes) — nor the RabbitMQ client on the server's
 * WebSocket. Nor, even after an install with an HTTP health check, Node's
 * undici (loaded by `fetch`, `Headers`, `Response`: +8 MiB) or the whole API's
 * route table: an agent's client has its own few routes (`AGENT_ROUTES`).
 */

const TRACER = fileURLToPath(new URL('../bench/module-trace.mjs', import.meta.url));
/** Records each V8 setting the agent sets for itself (`setFlagsFromString`). */
const FLAG_TRACE = fileURLToPath(new URL('./helpers/v8-flag-trace.mjs', import.meta.url));

/** Node's bundled HTTP client, behind `fetch`, `Headers` and `Response`. */
const UNDICI = 'node:internal/deps/undici/undici';
/** Ferry's modules of the whole API, which an agent's client does without. */
const WHOLE_API = ['protocol/routes.js', 'client/ferry-client.js'];

/** Packages in node_modules an idle agent never needs, whatever its transport. */
const NEVER = ['pg', 'better-sqlite3', 'kysely', 'fastify', 'pkijs', 'asn1js', 'yaml', 'ignore'];

let traces: string;

beforeAll(async () => {
  traces = await mkdtemp(path.join(os.tmpdir(), 'ferry-lean-agent-'));
});

afterAll(async () => {
  await rm(traces, { recursive: true, force: true });
});

/**
 * Starts a cluster and one traced agent, waits for its facts, does `work`
 * with the cluster (none: the agent stays idle), stops the agent; answers what
 * it loaded.
 */
async function loadedByIdleAgent(
  name: string,
  options: ClusterOptions = {},
  work: (cluster: Cluster) => Promise<void> = () => Promise.resolve(),
): Promise<string[]> {
  const trace = path.join(traces, `${name}.trace`);
  const cluster = await Cluster.start({
    ...options,
    agentEnv: {
      ...options.agentEnv,
      NODE_OPTIONS: `--import=${TRACER}`,
      FERRY_MODULE_TRACE: trace,
    },
  });
  try {
    await cluster.addHost('qa-1', 'qa', { roles: ['web'] });
    await waitFor('the first facts report', async () => {
      const answer = await cluster.api().hostFacts('qa-1');
      return answer.facts ?? undefined;
    });
    await work(cluster);
    // The tracer writes the CommonJS modules as the process exits.
    await cluster.stopAgent('qa-1', 'SIGTERM');
  } finally {
    await cluster.close();
  }
  const text = await readFile(trace, 'utf8');
  return [...new Set(text.split('\n').filter(Boolean))].map((line) =>
    line.startsWith('file://') ? fileURLToPath(line) : line,
  );
}

const packageOf = (file: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
const packages = (files: string[]) => new Set(files.map(packageOf).filter(Boolean));
/** Ferry's own modules, relative to dist/ (`agent/run-agent.js`). */
const ownModules = (files: string[]) =>
  files.filter((f) => f.includes('/dist/')).map((f) => f.slice(f.lastIndexOf('/dist/') + 6));

describe('an idle agent loads only what it uses', () => {
  it('on the built-in transport: no database driver, server, CLI command, install step or RabbitMQ client', async () => {
    const files = await loadedByIdleAgent('builtin');
    const loaded = packages(files);
    const own = ownModules(files);
    // The trace saw the agent at all: its WebSocket client and its own entry.
    expect(loaded.has('ws')).toBe(true);
    expect(own).toContain('agent/run-agent.js');

    expect(NEVER.filter((p) => loaded.has(p))).toEqual([]);
    expect(loaded.has('amqplib')).toBe(false);
    expect(loaded.has('tar-stream')).toBe(false);
    expect(own.filter((f) => /^(server|store|web|report|demo|cli\/commands)\//.test(f))).toEqual(
      [],
    );
    expect(own.filter((f) => f.startsWith('agent/install/steps/'))).toEqual([]);
    expect(own.filter((f) => f.startsWith('transport/rabbitmq/'))).toEqual([]);
    // Its enrolment went over HTTPS without fetch's classes, and its client knows its own routes.
    expect(files).not.toContain(UNDICI);
    expect(own.filter((f) => WHOLE_API.includes(f))).toEqual([]);
    expect(own).toContain('protocol/agent-routes.js');
  });

  it('after an install with an HTTP health check: still no undici and no whole route table', async () => {
    const files = await loadedByIdleAgent('installed', {}, async (cluster) => {
      // A long health budget: a loaded machine must not fail the install this test looks past.
      await cluster.push(envAppTree('paint', { healthTimeout: '60s' }), 'one');
      expect((await automaticDeploymentEnded(cluster)).state).toBe('succeeded');
    });
    const own = ownModules(files);
    // The trace saw the install: its steps were loaded with the job.
    expect(own).toContain('agent/install/steps/health-step.js');
    expect(files).not.toContain(UNDICI);
    expect(own.filter((f) => WHOLE_API.includes(f))).toEqual([]);
  });

  const rabbit = amqpUrl();
  describe.skipIf(!rabbit)('on RabbitMQ', () => {
    it('loads the RabbitMQ client, and still no database driver, server or CLI command', async () => {
      const { options, cleanup } = rabbitmqSetup(rabbit!);
      let files: string[];
      try {
        files = await loadedByIdleAgent('rabbitmq', options);
      } finally {
        await cleanup();
      }
      const loaded = packages(files);
      const own = ownModules(files);
      expect(loaded.has('amqplib')).toBe(true);
      expect(loaded.has('ws')).toBe(false);
      expect(NEVER.filter((p) => loaded.has(p))).toEqual([]);
      expect(files).not.toContain(UNDICI);
      expect(own.filter((f) => WHOLE_API.includes(f))).toEqual([]);
      expect(own.filter((f) => /^(server|store|web|report|demo|cli\/commands)\//.test(f))).toEqual(
        [],
      );
    });
  });
});

/** The V8 settings recorded in a trace by test/helpers/v8-flag-trace.mjs, in order. */
/** qa deploys what is pushed by itself (its autoDeploy policy): that deployment once it ended. */
function automaticDeploymentEnded(cluster: Cluster) {
  return waitFor(
    'the automatic deployment to end',
    async () => {
      const [deployment] = await cluster.api().deployments({ app: 'paint' });
      return deployment && ['succeeded', 'failed', 'cancelled'].includes(deployment.state)
        ? deployment
        : undefined;
    },
    120_000,
  );
}

async function flagsSet(trace: string): Promise<string[]> {
  return (await readFile(trace, 'utf8')).split('\n').filter(Boolean);
}

describe("an agent's heap: lean when idle, not while it works", () => {
  it('lifts --optimize-for-size for an install and sets it again once the agent is idle', async () => {
    const trace = path.join(traces, 'flags');
    const atWork = `${trace}.at-work`;
    const lean = ['--optimize-for-size', '--no-opt'];
    const cluster = await Cluster.start({
      agentEnv: { NODE_OPTIONS: `--import=${FLAG_TRACE}`, FERRY_V8_FLAG_TRACE: trace },
    });
    try {
      await cluster.addHost('qa-1', 'qa', { roles: ['web'] });
      await waitFor('the first facts report', async () => {
        const answer = await cluster.api().hostFacts('qa-1');
        return answer.facts ?? undefined;
      });
      expect(await flagsSet(trace)).toEqual(lean);

      // The install's own hook copies the trace as it stands while the job runs.
      const tree = envAppTree('paint', { healthTimeout: '60s' });
      tree['ferry.yml'] += `    hooks: { afterInstall: ['cp ${trace} ${atWork}'] }\n`;
      await cluster.push(tree, 'one');
      expect((await automaticDeploymentEnded(cluster)).state).toBe('succeeded');
      expect(await flagsSet(atWork)).toEqual([...lean, '--no-optimize-for-size']);
      // Set again after the job's result and the facts report that follows it; TurboFan stayed off.
      const after = await waitFor('the lean setting again', async () => {
        const flags = await flagsSet(trace);
        return flags.length > 3 ? flags : undefined;
      });
      expect(after).toEqual([...lean, '--no-optimize-for-size', '--optimize-for-size']);
    } finally {
      await cluster.close();
    }
  });
});
