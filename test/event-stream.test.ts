import { writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamEvents } from '../src/client/event-stream.js';
import { FerryClient } from '../src/client/ferry-client.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import type { FerryEvent } from '../src/protocol/events.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { FERRY_BIN, runFerry } from './helpers/ferry-process.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessTrust } from '../src/dev/harness-trust.js';

/**
 * The live event stream of a real server with real agents: every step of a
 * deployment arrives once and in order; a client that drops its connection
 * and resumes with `Last-Event-ID` misses nothing and gets nothing twice;
 * `ferry deployment --follow` reads one stream and never polls.
 */

let cluster: Cluster;

/** Collects the events a stream hands over until `done` says so. */
function collect(
  query: Parameters<typeof streamEvents>[0]['query'],
  done: (events: FerryEvent[]) => boolean,
  options: { after?: string; signal?: AbortSignal } = {},
): { events: FerryEvent[]; ended: Promise<void> } {
  const events: FerryEvent[] = [];
  const ended = streamEvents({
    client: new FerryClient(
      cluster.server.url,
      cluster.server.adminToken,
      harnessTrust().clientOptions(),
    ),
    query,
    after: options.after,
    signal: options.signal,
    onEvent: (event) => {
      events.push(event);
      return !done(events);
    },
  });
  return { events, ended };
}

/** True once a deployment this stream saw created has ended. */
const deploymentEnded = (events: FerryEvent[]) => {
  const created = new Set(
    events.flatMap((e) => (e.kind === 'deployment.created' ? [e.deploymentId] : [])),
  );
  return events.some(
    (e) =>
      e.kind === 'deployment.state' &&
      created.has(e.deploymentId) &&
      !['pending', 'running'].includes(e.data.state),
  );
};

/** A proxy in front of the server that counts the requests passing through it, by path. */
async function countingProxy(
  target: string,
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url?.split('?')[0]}`);
    const secure = to.protocol === 'https:';
    const upstream = (secure ? https : http).request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
        // The server's own CA, as every client of it.
        ...(secure ? { agent: harnessTrust().agent } : {}),
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP proxy in front of the server that can go silent: each connection open
 * when `silence()` is called stops passing bytes either way, and stays open —
 * as a laptop that slept or a dropped Wi-Fi leaves a connection: half-open,
 * no FIN, no RST. Connections made after it pass bytes as before.
 */
async function silenceableProxy(
  target: string,
): Promise<{ url: string; silence(): void; close(): Promise<void> }> {
  const to = new URL(target);
  const pairs: Array<{ client: net.Socket; upstream: net.Socket; silent: boolean }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(to.port), to.hostname);
    const pair = { client, upstream, silent: false };
    pairs.push(pair);
    client.on('data', (chunk) => void (pair.silent || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (pair.silent || client.write(chunk)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${new URL(target).protocol}//127.0.0.1:${port}`,
    silence: () => pairs.forEach((pair) => (pair.silent = true)),
    close: () =>
      new Promise((resolve) => {
        for (const pair of pairs) pair.client.destroy();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  cluster = await Cluster.start({
    config:
      'environments:\n  - { name: dev }\n  - { name: qa, autoDeploy: true, strategy: { batch: 1 } }\n',
  });
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('qa-2', 'qa');
  await cluster.addHost('dev-1', 'dev');
});
afterAll(async () => {
  await cluster?.close();
});

describe('the live event stream', () => {
  it('carries a push and every step of its deployment, each once, in order', async () => {
    const stream = collect({ app: 'web' }, deploymentEnded);
    // Subscribed before anything happens: the stream starts now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cluster.push(webAppTree('one'), 'one');
    await stream.ended;
    const { events } = stream;

    const ids = events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const kinds = events.map((e) => e.kind);
    expect(kinds[0]).toBe('bundle.pushed');
    expect(kinds).toContain('deployment.created');
    const final = events.filter((e) => e.kind === 'deployment.state').at(-1)!;
    expect(final.kind === 'deployment.state' && final.data.state).toBe('succeeded');

    for (const host of ['qa-1', 'qa-2']) {
      const steps = events.flatMap((e) =>
        e.kind === 'install.step' && e.data.host === host ? [e.data] : [],
      );
      const ended = steps.filter((s) => s.state !== 'running');
      // Every step that ran is seen starting and ending, with its exit and duration.
      for (const name of ['fetch', 'verify', 'unpack', 'switch', 'start', 'health']) {
        expect(
          steps.filter((s) => s.step === name && s.state === 'running'),
          `${host} ${name}`,
        ).toHaveLength(1);
        const end = ended.filter((s) => s.step === name);
        expect(end, `${host} ${name} ended`).toHaveLength(1);
        expect(end[0]!.state).toBe('succeeded');
        expect(end[0]!.durationMs).toBeGreaterThanOrEqual(0);
      }
      const states = events.flatMap((e) =>
        e.kind === 'install.state' && e.data.host === host ? [e.data.state] : [],
      );
      expect(states.at(-1)).toBe('succeeded');
      expect(states).toContain('running');
    }
  });

  it('gives a client that drops and resumes with Last-Event-ID every event it missed, once', async () => {
    const whole = collect({ app: 'web' }, deploymentEnded);
    const dropping = new AbortController();
    // This client leaves after its fifth event, in the middle of the rollout.
    const first = collect({ app: 'web' }, (events) => events.length >= 5, {
      signal: dropping.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cluster.push(webAppTree('two'), 'two');
    await first.ended;
    expect(first.events).toHaveLength(5);
    // Gone a while; then back, after the last id it saw.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rest = collect(
      { app: 'web' },
      (events) => deploymentEnded([...first.events, ...events]),
      {
        after: first.events.at(-1)!.id,
      },
    );
    await Promise.all([whole.ended, rest.ended]);
    const seen = [...first.events, ...rest.events].map((e) => e.id);
    expect(seen).toEqual(whole.events.map((e) => e.id));
    expect(rest.events.length).toBeGreaterThan(0);
  });

  it('filters by deployment and host, and refuses a bad filter with its code', async () => {
    const deployments = await cluster.json<DeploymentRecord[]>(['deployments', '--app', 'web']);
    const id = deployments[0]!.id;
    const replay = collect(
      { deployment: id, host: 'qa-2' },
      (events) => events.some((e) => e.kind === 'install.state' && e.data.state === 'succeeded'),
      { after: '0' },
    );
    await replay.ended;
    expect(replay.events.length).toBeGreaterThan(0);
    for (const event of replay.events) {
      expect(event.deploymentId).toBe(id);
      expect(event.hostId).toBe(cluster.host('qa-2').hostId);
    }
    await expect(
      streamEvents({
        client: new FerryClient(
          cluster.server.url,
          cluster.server.adminToken,
          harnessTrust().clientOptions(),
        ),
        query: { kinds: ['no.such.kind'] },
        onEvent: () => false,
      }),
    ).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    await expect(
      streamEvents({
        client: new FerryClient(cluster.server.url, 'wrong', harnessTrust().clientOptions()),
        query: {},
        onEvent: () => false,
      }),
    ).rejects.toMatchObject({ code: 'E_AUTH_INVALID' });
  });

  it('ferry deployment --follow reads one stream, polls nothing, and shows every step', async () => {
    const proxy = await countingProxy(cluster.server.url);
    try {
      // Held at its first host's health check until the follower is there.
      const gate = path.join(cluster.work, 'gate-three');
      const version = await cluster.push(webAppTree('three', { gateFile: gate }), 'three');
      const deployments = await cluster.json<DeploymentRecord[]>(['deployments', '--app', 'web']);
      const id = deployments.find((d) => d.version === version)!.id;
      const following = runFerry(['deployment', id, '--follow'], {
        env: { ...cluster.env, FERRY_SERVER: proxy.url },
      });
      await waitFor('the follower to open its stream', () =>
        Promise.resolve(proxy.requests.includes('GET /api/v1/events') || undefined),
      );
      await writeFile(gate, '');
      const followed = await following;
      expect(followed.code, followed.stderr).toBe(0);
      for (const host of ['qa-1', 'qa-2']) {
        for (const step of ['switch', 'start', 'health']) {
          expect(followed.stdout).toMatch(new RegExp(`${host} .* ${step} (\\.\\.\\.|ok)`));
        }
      }
      expect(followed.stdout).toContain(`succeeded: web@${version}`);
      const gets = proxy.requests.filter((r) => r === `GET /api/v1/deployments/${id}`);
      // Once to start, once for the summary: nothing in between.
      expect(gets.length).toBeLessThanOrEqual(2);
      expect(proxy.requests.filter((r) => r === 'GET /api/v1/events')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('ferry install follows one stream, polls nothing, and shows every step', async () => {
    const proxy = await countingProxy(cluster.server.url);
    const gate = path.join(cluster.work, 'gate-install');
    try {
      // Held at its health check (on dev-1, and on qa where it deploys by itself) until let go.
      const version = await cluster.push(webAppTree('by-hand', { gateFile: gate }), 'by-hand');
      // The test's own stream, straight to the server: when dev-1 is at its health check.
      const atHealth = collect({ host: 'dev-1', kinds: ['install.step'] }, (events) =>
        events.some((e) => e.kind === 'install.step' && e.data.step === 'health'),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const installing = runFerry(['install', `web@${version}`, '--host', 'dev-1'], {
        env: { ...cluster.env, FERRY_SERVER: proxy.url },
      });
      await atHealth.ended;
      // A while at the health check: a follower that polled would show it here.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await writeFile(gate, '');
      const installed = await installing;
      expect(installed.code, installed.stderr).toBe(0);
      const gets = proxy.requests.filter((r) => r.startsWith('GET /api/v1/installs/'));
      // Once for the summary: nothing while it runs.
      expect(gets.length).toBeLessThanOrEqual(1);
      expect(proxy.requests.filter((r) => r === 'GET /api/v1/events')).toHaveLength(1);
      for (const step of ['fetch', 'verify', 'unpack', 'switch', 'start', 'health']) {
        expect(installed.stdout).toMatch(new RegExp(`^  ${step} \\.\\.\\.$`, 'm'));
        expect(installed.stdout).toMatch(new RegExp(`^  ${step} ok \\(\\d+ ms\\)$`, 'm'));
      }
      expect(installed.stdout).toContain(`succeeded: dev-1 runs web@${version}`);
    } finally {
      await writeFile(gate, '');
      await proxy.close();
    }
  });

  it('ferry events prints the stream one line per event, replaying with --after, until interrupted', async () => {
    // A deployment of its own, ended before the command starts: all of it is replayed.
    const version = await cluster.push(webAppTree('four'), 'four');
    await waitFor('web@' + version + ' on qa-1', async () =>
      (await cluster.health('qa-1'))?.mark === 'four' ? true : undefined,
    );
    const child = spawn(
      process.execPath,
      [
        FERRY_BIN,
        'events',
        '--app',
        'web',
        '--host',
        'qa-1',
        '--kind',
        'install.step',
        '--after',
        '0',
      ],
      {
        env: { ...process.env, ...cluster.env, FERRY_CA_FILE: cluster.server.caFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    await waitFor(
      'the replayed health steps',
      () =>
        Promise.resolve(
          new RegExp(
            `web@${version} qa qa-1 {2}health succeeded \\((no exit code|exit 0), \\d+\\.\\d s\\)`,
          ).test(out) || undefined,
        ),
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; printed:\n${out}\n${err}`);
    });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n');
    for (const line of lines)
      expect(line).toMatch(/^\d\d:\d\d:\d\d {2}#\d+ {2}install\.step {2}web@\d+ qa qa-1 {2}/);
    const ids = lines.map((l) => Number(/#(\d+)/.exec(l)![1]));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('takes a connection gone silent for dead, connects again and misses nothing', async () => {
    const proxy = await silenceableProxy(cluster.server.url);
    const admin = cluster.api();
    const notes: Array<string | null> = [];
    const reconnects: Error[] = [];
    let opened = 0;
    const controller = new AbortController();
    try {
      // An app of its own, for no host: its push deploys nothing.
      const version = await cluster.push(
        { 'ferry.yml': 'apps:\n  quiet:\n    role: nobody\n', README: 'quiet\n' },
        'quiet',
      );
      const stream = streamEvents({
        client: new FerryClient(
          proxy.url,
          cluster.server.adminToken,
          harnessTrust().clientOptions(),
        ),
        query: { app: 'quiet', kinds: ['verdict.changed'] },
        // Short here; 45 s by default, three of the server's 15 s keep-alives.
        idleTimeoutMs: 3000,
        signal: controller.signal,
        onOpen: () => (opened += 1),
        onReconnect: (error) => reconnects.push(error),
        onEvent: (event) => {
          if (event.kind === 'verdict.changed') notes.push(event.data.note);
          return notes.length < 2;
        },
      });
      await waitFor('the stream to open', () => Promise.resolve(opened === 1 || undefined));
      await admin.markVerdict('quiet', version, { verdict: 'passed', note: 'before the silence' });
      await waitFor('the first verdict', () => Promise.resolve(notes.length === 1 || undefined));

      proxy.silence();
      await admin.markVerdict('quiet', version, { verdict: 'failed', note: 'during the silence' });
      // Without a watchdog it waits here for ever: the silence has no end to read.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stream,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('the silent connection was never noticed')),
            30_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      expect(notes).toEqual(['before the silence', 'during the silence']);
      expect(reconnects.length).toBeGreaterThanOrEqual(1);
      expect(reconnects[0]!.message).toBe(
        'the event stream was silent for 3000 ms: taken for dead',
      );
      expect(opened).toBeGreaterThanOrEqual(2);
    } finally {
      controller.abort();
      await proxy.close();
    }
  }, 60_000);
});
