import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { harnessFetch } from '../src/dev/harness-trust.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import { openStore } from '../src/store/open-store.js';
import { SecretBox } from '../src/store/secret-box.js';
import type { Store } from '../src/store/store.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * `GET /metrics` as Prometheus sees it: a real server with a real agent
 * deploys a bundle, and the answer, scraped over HTTPS, is read with a
 * Prometheus text-format parser (parse-prometheus-text-format). Its names
 * follow Prometheus' conventions, and its values move with what happened.
 */

const TOKEN = `scrape-${randomBytes(16).toString('hex')}`;

const CONFIG = `
environments:
  - { name: qa, autoDeploy: true }
  - { name: prod, requires: passed }
metrics: { enabled: true }
`;

/**
 * Names prom-client's default process metrics give gauges that end in
 * `_total` (a count of handles now, not a counter): Node's own names, kept as
 * every Node dashboard knows them. Ferry's own metrics never do.
 */
const DEFAULT_GAUGES_NAMED_TOTAL = new Set([
  'ferry_nodejs_active_handles_total',
  'ferry_nodejs_active_requests_total',
  'ferry_nodejs_active_resources_total',
  'ferry_nodejs_heap_size_total_bytes',
  'ferry_nodejs_heap_space_size_total_bytes',
]);

/** Ferry's own metrics, each with its type and label names, as docs/metrics.md lists them. */
const FERRY_METRICS: Record<string, { type: ParsedFamily['type']; labels: string[] }> = {
  ferry_deployments: { type: 'GAUGE', labels: ['state', 'env'] },
  ferry_deployments_finished_total: { type: 'COUNTER', labels: ['env', 'outcome'] },
  ferry_install_duration_seconds: { type: 'HISTOGRAM', labels: ['env', 'outcome'] },
  ferry_step_duration_seconds: { type: 'HISTOGRAM', labels: ['step', 'outcome'] },
  ferry_hosts: { type: 'GAUGE', labels: ['env'] },
  ferry_hosts_connected: { type: 'GAUGE', labels: ['env'] },
  ferry_alerts_open: { type: 'GAUGE', labels: ['kind'] },
  ferry_outbox_messages: { type: 'GAUGE', labels: [] },
  ferry_http_request_duration_seconds: {
    type: 'HISTOGRAM',
    labels: ['method', 'route', 'status_class'],
  },
};

let cluster: Cluster;

/** One scrape: status, Content-Type and body. */
async function scrape(
  url: string,
  authorization?: string,
): Promise<{ status: number; type: string; body: string }> {
  const response = await harnessFetch(`${url}/metrics`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: await response.text(),
  };
}

/** A scrape with the token, parsed; answers the families by name and the raw text. */
async function metrics(): Promise<{ families: Map<string, ParsedFamily>; text: string }> {
  const answer = await scrape(cluster.server.url, `Bearer ${TOKEN}`);
  expect(answer.status, answer.body).toBe(200);
  const families = parsePrometheusTextFormat(answer.body);
  return { families: new Map(families.map((f) => [f.name, f])), text: answer.body };
}

/** The labels of a sample line (`name{a="b",le="1"} 3`). */
function labelsOf(line: string): Record<string, string> {
  const inside = /^[^{\s]+\{(.*)\}\s/.exec(line)?.[1] ?? '';
  return Object.fromEntries(
    [...inside.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(
      (m): [string, string] => [m[1]!, m[2]!],
    ),
  );
}

/**
 * One series of a histogram, read by the parser: its `_bucket`, `_sum` and
 * `_count` lines for exactly `labels`. The parser merges a labelled
 * histogram's series into one and drops their sums and counts, so each
 * series is handed to it alone, its labels but `le` taken off.
 */
function histogram(
  text: string,
  name: string,
  labels: Record<string, string>,
): { buckets: Record<string, number>; sum: number; count: number } | undefined {
  const want = JSON.stringify(Object.entries(labels).toSorted());
  const lines = text.split('\n').filter((line) => {
    const family = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1];
    if (![`${name}_bucket`, `${name}_sum`, `${name}_count`].includes(family ?? '')) return false;
    const rest = Object.entries(labelsOf(line)).filter(([label]) => label !== 'le');
    return JSON.stringify(rest.toSorted()) === want;
  });
  if (lines.length === 0) return undefined;
  const alone = lines.map((line) => {
    const le = labelsOf(line).le;
    return line.replace(/\{.*\}/, le === undefined ? '' : `{le="${le}"}`);
  });
  const [series] = parsePrometheusTextFormat(
    [`# TYPE ${name} histogram`, ...alone, ''].join('\n'),
  )[0]!.metrics;
  return {
    buckets: Object.fromEntries(
      Object.entries(series?.buckets ?? {}).map(([le, n]) => [le, Number(n)]),
    ),
    sum: Number(series?.sum),
    count: Number(series?.count),
  };
}

/** A counter's or gauge's value for exactly `labels`, or undefined. */
function valueOf(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = JSON.stringify(Object.entries(labels).toSorted());
  const sample = families
    .get(name)
    ?.metrics.find((s) => JSON.stringify(Object.entries(s.labels ?? {}).toSorted()) === want);
  return sample?.value === undefined ? undefined : Number(sample.value);
}

beforeAll(async () => {
  cluster = await Cluster.start({
    config: CONFIG,
    serverArgs: ['--log-level', 'debug'],
    serverEnv: { FERRY_METRICS_TOKEN: TOKEN },
  });
  await cluster.addHost('qa-1', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('GET /metrics on a real server', () => {
  it('counts a deployment, its install and steps, the hosts and the HTTP requests, in names Prometheus expects', async () => {
    const version = await cluster.push(webAppTree('metrics'), 'metrics');
    const deployment = await waitFor('the automatic deployment to qa to end', async () => {
      const [newest] = await cluster.api().deployments({ app: 'web', env: 'qa', limit: 1 });
      return newest === undefined || ['pending', 'running'].includes(newest.state)
        ? undefined
        : newest;
    });
    expect(deployment).toMatchObject({ version, state: 'succeeded' });

    const answer = await scrape(cluster.server.url, `Bearer ${TOKEN}`);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/plain; version=0.0.4; charset=utf-8');

    // Counted from the events: after the deployment's end is recorded, its metrics follow.
    const { families, text } = await waitFor('the deployment to be counted', async () => {
      const read = await metrics();
      const finished = valueOf(read.families, 'ferry_deployments_finished_total', {
        env: 'qa',
        outcome: 'succeeded',
      });
      return finished === 1 ? read : undefined;
    });

    // The conventions: one prefix, snake_case, base units, _total on counters only.
    for (const family of families.values()) {
      const { name, type } = family;
      expect(name, name).toMatch(/^ferry_[a-z][a-z0-9_]*[a-z0-9]$/);
      expect(family.help.length, `${name} has help`).toBeGreaterThan(0);
      if (type === 'COUNTER') expect(name, `${name} is a counter`).toMatch(/_total$/);
      else if (!DEFAULT_GAUGES_NAMED_TOTAL.has(name))
        expect(name, `${name} is a ${type}`).not.toMatch(/_total$/);
      expect(name, `${name}: base units`).not.toMatch(/_(milliseconds|ms|minutes|kilobytes|mb)$/);
      if (type === 'HISTOGRAM') {
        for (const suffix of ['_bucket', '_sum', '_count']) {
          expect(text, `${name}${suffix}`).toMatch(new RegExp(`^${name}${suffix}[{ ]`, 'm'));
        }
        expect(text).toMatch(new RegExp(`^${name}_bucket\\{[^}]*le="\\+Inf"`, 'm'));
      }
    }
    // Every sample belongs to a declared family; every label is snake_case and none names one host.
    const declared = [...families.keys()];
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      const sampleName = /^[^{\s]+/.exec(line)![0];
      expect(
        declared.some((f) => [f, `${f}_bucket`, `${f}_sum`, `${f}_count`].includes(sampleName)),
        line,
      ).toBe(true);
      for (const label of Object.keys(labelsOf(line))) {
        expect(label, line).toMatch(/^[a-z][a-z0-9_]*$/);
        expect(['host', 'host_id', 'hostname', 'install_id', 'id', 'instance_id']).not.toContain(
          label,
        );
      }
    }
    // Ferry's own, each with its type and labels; the process's, prefixed.
    for (const [name, expected] of Object.entries(FERRY_METRICS)) {
      const family = families.get(name);
      expect(family?.type, name).toBe(expected.type);
      const sampleLabels = text
        .split('\n')
        .filter((line) => new RegExp(`^${name}(_bucket|_sum|_count)?[{ ]`).test(line))
        .map((line) => Object.keys(labelsOf(line)).filter((l) => l !== 'le'));
      expect(sampleLabels.length, name).toBeGreaterThan(0);
      for (const labels of sampleLabels)
        expect(labels.toSorted(), name).toEqual(expected.labels.toSorted());
    }
    expect(families.get('ferry_process_cpu_seconds_total')?.type).toBe('COUNTER');
    expect(families.get('ferry_nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
    expect(families.has('process_cpu_seconds_total')).toBe(false);

    // What happened: one deployment, one install, its steps, on one connected host.
    expect(valueOf(families, 'ferry_deployments', { state: 'running', env: 'qa' })).toBe(0);
    expect(valueOf(families, 'ferry_deployments', { state: 'pending', env: 'prod' })).toBe(0);
    const install = histogram(text, 'ferry_install_duration_seconds', {
      env: 'qa',
      outcome: 'succeeded',
    });
    expect(install?.count).toBe(1);
    expect(install?.sum).toBeGreaterThan(0);
    expect(install?.buckets['+Inf']).toBe(1);
    for (const step of ['fetch', 'unpack', 'start', 'health']) {
      expect(
        histogram(text, 'ferry_step_duration_seconds', { step, outcome: 'succeeded' })?.count,
        step,
      ).toBe(1);
    }
    expect(valueOf(families, 'ferry_hosts', { env: 'qa' })).toBe(1);
    expect(valueOf(families, 'ferry_hosts', { env: 'prod' })).toBe(0);
    expect(valueOf(families, 'ferry_hosts_connected', { env: 'qa' })).toBe(1);
    expect(valueOf(families, 'ferry_alerts_open', { kind: 'disk-full' })).toBe(0);
    expect(valueOf(families, 'ferry_outbox_messages')).toBeGreaterThanOrEqual(0);
    // Requests by the route's pattern: the agent's download of web@N is one series, whatever N.
    expect(text).toMatch(
      /^ferry_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/apps\/:app\/bundles\/:version\/download",status_class="2xx"\} 1$/m,
    );
    expect(text).not.toContain('route="/api/v1/apps/web');
    expect(text).not.toContain(deployment.id);
  }, 180_000);

  it('counts each HTTP request by method, route pattern and status class', async () => {
    const key = { method: 'GET', route: '/api/v1/apps/:app/bundles', status_class: '2xx' };
    const before = histogram((await metrics()).text, 'ferry_http_request_duration_seconds', key);
    for (let i = 0; i < 3; i++) await cluster.api().bundles('web', 1);
    const missing = await harnessFetch(`${cluster.server.url}/api/v1/apps/nope-app/bundles`, {
      headers: { authorization: `Bearer ${cluster.server.adminToken}` },
    });
    expect(missing.status).toBe(404);
    const { text } = await metrics();
    const after = histogram(text, 'ferry_http_request_duration_seconds', key);
    expect(after!.count - (before?.count ?? 0)).toBe(3);
    expect(
      histogram(text, 'ferry_http_request_duration_seconds', { ...key, status_class: '4xx' })
        ?.count,
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('nope-app');
  });

  it('refuses a scrape without the metrics token with 401, and never logs the token', async () => {
    const url = cluster.server.url;
    const wrong = `scrape-${randomBytes(16).toString('hex')}`;
    for (const [authorization, reason] of [
      [undefined, 'missing'],
      [`Bearer ${wrong}`, 'wrong'],
      // A Ferry token, an admin's even, is not the scraper's secret.
      [`Bearer ${cluster.server.adminToken}`, 'wrong'],
      [`Basic ${Buffer.from(`prometheus:${TOKEN}`).toString('base64')}`, 'missing'],
    ] as const) {
      const answer = await scrape(url, authorization);
      expect(answer.status, authorization).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({
        code: 'E_METRICS_TOKEN',
        details: { reason },
      });
      expect(answer.body).not.toContain(TOKEN);
    }
    expect((await scrape(url, `bearer ${TOKEN}`)).status).toBe(200);
    // Neither the token nor a wrong one sent is in what the server printed (at debug).
    const logs = cluster.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(wrong);
  });
});

describe('GET /metrics, not enabled or public', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-metrics-'));
    store = await openStore(
      { driver: 'sqlite', file: path.join(dir, 'ferry.db') },
      new SecretBox(randomBytes(32)),
    );
    await store.migrate();
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A server of this config listening on a free port; answers its URL and the built server. */
  async function serve(
    config: Record<string, unknown>,
  ): Promise<{ url: string; server: BuiltServer }> {
    const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
    await artifacts.init();
    const server = buildServer(
      serverConfigSchema.parse({ data: dir, logLevel: 'silent', ...config }),
      { store, artifacts },
    );
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = server.app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, server };
  }

  it('answers 404 by default, as the API does, not the dashboard page', async () => {
    const { url, server } = await serve({});
    try {
      for (const authorization of [undefined, `Bearer ${TOKEN}`]) {
        const answer = await scrape(url, authorization);
        expect(answer.status).toBe(404);
        expect(JSON.parse(answer.body)).toMatchObject({
          code: 'E_NOT_FOUND',
          message: expect.stringContaining('metrics are disabled'),
        });
      }
    } finally {
      await server.app.close();
    }
  });

  it('serves anyone when metrics.public says so explicitly', async () => {
    const { url, server } = await serve({ metrics: { enabled: true, public: true } });
    try {
      const answer = await scrape(url);
      expect(answer.status).toBe(200);
      const names = parsePrometheusTextFormat(answer.body).map((f) => f.name);
      expect(names).toEqual(expect.arrayContaining(Object.keys(FERRY_METRICS)));
    } finally {
      await server.app.close();
    }
  });
});
