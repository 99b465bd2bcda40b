import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { appManifestSchema } from '../../bundle/manifest-schema.js';
import { FerryError } from '../../protocol/errors.js';
import type { HealthCheckSpec } from './health-check.js';
import {
  healthSpecFrom,
  parseTcpAddress,
  probeOnce,
  retryPause,
  waitHealthy,
} from './health-check.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A real HTTP server on 127.0.0.1 and a random port; closed after the test. */
async function httpServer(handler: http.RequestListener): Promise<{ url: string; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/health`, port };
}

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, connections: () => count };
}

/** A port nothing listens on: bound once by the system, then let go. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a process lives; a zombie that nobody has reaped yet counts as gone. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function spec(fields: Partial<HealthCheckSpec>): HealthCheckSpec {
  return { expectStatus: 200, timeoutMs: 2000, intervalMs: 100, ...fields };
}

let cwd: string;
const options = (): { cwd: string; env: Record<string, string> } => ({ cwd, env: {} });
beforeAll(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'ferry-health-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('http checks', () => {
  it('passes at the first attempt when the endpoint answers the expected status', async () => {
    const { url } = await httpServer((_request, response) => response.end('ok'));
    const result = await waitHealthy(spec({ http: url, contains: 'ok' }), options());
    expect(result).toMatchObject({ ok: true, attempts: 1, lastFailure: null });
  });

  it('asks for any type, uncompressed, and names itself', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const { url } = await httpServer((request, response) => {
      seen = request.headers;
      response.end('ok');
    });
    await waitHealthy(spec({ http: url }), options());
    expect(seen).toMatchObject({
      accept: '*/*',
      'user-agent': 'ferry-agent-health',
      'accept-encoding': 'identity',
    });
  });

  it('keeps trying while the service answers 503 and passes once it becomes healthy', async () => {
    const readyAt = Date.now() + 600;
    const { url } = await httpServer((_request, response) => {
      response.statusCode = Date.now() < readyAt ? 503 : 200;
      response.end();
    });
    const result = await waitHealthy(spec({ http: url, timeoutMs: 5000 }), options());
    expect(result.ok).toBe(true);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(500);
    expect(result.lastFailure).toBe(`HTTP 503 from ${url}, expected 200`);
  });

  it('retries soon after a first failure instead of waiting a whole interval', async () => {
    // Healthy from the third request on; an interval of an hour would keep the
    // check waiting for ever if it paused a whole interval between the first attempts.
    let requests = 0;
    const { url } = await httpServer((_request, response) => {
      requests += 1;
      response.statusCode = requests >= 3 ? 200 : 503;
      response.end();
    });
    const hour = 3_600_000;
    const result = await waitHealthy(
      spec({ http: url, intervalMs: hour, timeoutMs: hour }),
      options(),
    );
    expect(result).toMatchObject({ ok: true, attempts: 3 });
    expect(result.lastFailure).toBe(`HTTP 503 from ${url}, expected 200`);
  });

  it('pauses 25 ms after the first failure, doubling to 100 ms, then the interval after 5 s', () => {
    const quick = [1, 2, 3, 4, 5, 6].map((attempt) => retryPause(attempt, 1000, 200));
    expect(quick).toEqual([25, 50, 100, 100, 100, 100]);
    expect(retryPause(40, 1000, 4999)).toBe(100);
    expect(retryPause(50, 1000, 5000)).toBe(1000);
    // Never longer than the interval.
    expect([1, 2, 3].map((attempt) => retryPause(attempt, 40, 0))).toEqual([25, 40, 40]);
    expect(retryPause(1, 10, 0)).toBe(10);
  });

  it('fails when the body does not contain the expected text', async () => {
    const { url } = await httpServer((_request, response) => response.end('{"status":"starting"}'));
    const result = await waitHealthy(
      spec({ http: url, contains: '"status":"ready"', timeoutMs: 500 }),
      options(),
    );
    expect(result.ok).toBe(false);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.lastFailure).toContain('body does not contain "\\"status\\":\\"ready\\""');
    expect(result.lastFailure).toContain('starting');
  });

  it('takes a redirect as the answer instead of following it', async () => {
    const { url } = await httpServer((request, response) => {
      if (request.url === '/health') response.writeHead(302, { location: '/login' });
      response.end('login page');
    });
    const result = await waitHealthy(spec({ http: url, timeoutMs: 300 }), options());
    expect(result.ok).toBe(false);
    expect(result.lastFailure).toBe(`HTTP 302 from ${url} (to /login), expected 200`);
  });

  it('tries until the budget is spent while the connection is refused', async () => {
    const port = await closedPort();
    const result = await waitHealthy(
      spec({ http: `http://127.0.0.1:${port}/health`, timeoutMs: 1000 }),
      options(),
    );
    expect(result.ok).toBe(false);
    expect(result.attempts).toBeGreaterThan(3);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(990);
    expect(result.elapsedMs).toBeLessThan(1400);
    expect(result.lastFailure).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('gives up on an attempt that hangs and still keeps the overall budget', async () => {
    const silent = await silentServer();
    const url = `http://127.0.0.1:${silent.port}/health`;
    // Attempts time out after 1s (five intervals, at least a second): 0–1s, 1.1–2.1s, 2.2–2.5s.
    const result = await waitHealthy(spec({ http: url, timeoutMs: 2500 }), options());
    expect(result.ok).toBe(false);
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect(silent.connections()).toBeGreaterThanOrEqual(2);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(2490);
    expect(result.elapsedMs).toBeLessThan(2900);
    expect(result.lastFailure).toMatch(
      /^no answer from http:\/\/127\.0\.0\.1:\d+\/health within \d+ms$/,
    );
  });
});

describe('tcp checks', () => {
  it('passes when something accepts connections, written with or without tcp://', async () => {
    const silent = await silentServer();
    for (const address of [`127.0.0.1:${silent.port}`, `tcp://127.0.0.1:${silent.port}`]) {
      const result = await waitHealthy(spec({ tcp: address }), options());
      expect(result).toMatchObject({ ok: true, attempts: 1, lastFailure: null });
    }
  });

  it('fails with the refusal when nothing listens', async () => {
    const port = await closedPort();
    const result = await waitHealthy(spec({ tcp: `127.0.0.1:${port}`, timeoutMs: 400 }), options());
    expect(result.ok).toBe(false);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(390);
    expect(result.lastFailure).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('reads host:port, tcp://host:port and bracketed IPv6 addresses', () => {
    expect(parseTcpAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseTcpAddress('tcp://10.0.0.2:5432')).toEqual({ host: '10.0.0.2', port: 5432 });
    expect(parseTcpAddress('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });
});

describe('command checks', () => {
  it('passes when the command exits 0, run in the given folder', async () => {
    await writeFile(path.join(cwd, 'marker'), 'here');
    const result = await waitHealthy(spec({ command: 'test -f marker' }), options());
    expect(result).toMatchObject({ ok: true, attempts: 1, lastFailure: null });
  });

  it('reports the exit code and the tail of stderr when the command fails', async () => {
    const result = await waitHealthy(
      spec({ command: 'echo "some noise"; echo "database is down" >&2; exit 3', timeoutMs: 300 }),
      options(),
    );
    expect(result.ok).toBe(false);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.lastFailure).toBe('exit code 3: database is down');
  });

  it('keeps trying until the command passes', async () => {
    setTimeout(() => void writeFile(path.join(cwd, 'ready'), ''), 400);
    const result = await waitHealthy(spec({ command: 'test -f ready' }), options());
    expect(result.ok).toBe(true);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.lastFailure).toBe('exit code 1');
  });

  it('sees exactly the given environment and nothing of the agent', async () => {
    expect(process.env.HOME).toBeDefined();
    const env = { FOO: 'bar' };
    const command = 'test "$FOO" = bar && test -z "$HOME"';
    const result = await waitHealthy(spec({ command }), { cwd, env });
    expect(result).toMatchObject({ ok: true, attempts: 1 });
  });

  it('kills a command that outlives its attempt, with what it started', async () => {
    const command = 'sleep 30 & echo $! > sleeper.pid; wait';
    const result = await waitHealthy(spec({ command, timeoutMs: 700 }), options());
    expect(result.ok).toBe(false);
    expect(result.attempts).toBe(1);
    expect(result.elapsedMs).toBeLessThan(1100);
    expect(result.lastFailure).toBe('no result from the command within 700ms (killed)');
    const sleeper = Number(await readFile(path.join(cwd, 'sleeper.pid'), 'utf8'));
    await expect.poll(() => isRunning(sleeper), { timeout: 1000 }).toBe(false);
  });

  it('reports a command that cannot start in a missing folder', async () => {
    const result = await waitHealthy(spec({ command: 'true', timeoutMs: 200 }), {
      cwd: path.join(cwd, 'missing'),
      env: {},
    });
    expect(result.ok).toBe(false);
    expect(result.lastFailure).toMatch(/^cannot run the command in .*missing: .*ENOENT/);
  });
});

describe('stopping early', () => {
  it('stops between attempts when the signal aborts', async () => {
    const port = await closedPort();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const result = await waitHealthy(spec({ tcp: `127.0.0.1:${port}`, timeoutMs: 10_000 }), {
      ...options(),
      signal: controller.signal,
    });
    expect(result.ok).toBe(false);
    expect(result.elapsedMs).toBeLessThan(600);
    expect(result.lastFailure).toBe(`aborted; before that: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('stops in the middle of a hanging attempt when the signal aborts', async () => {
    const silent = await silentServer();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const result = await waitHealthy(
      spec({ http: `http://127.0.0.1:${silent.port}/`, timeoutMs: 10_000, intervalMs: 1000 }),
      { ...options(), signal: controller.signal },
    );
    expect(result).toMatchObject({ ok: false, attempts: 1, lastFailure: 'aborted' });
    expect(result.elapsedMs).toBeLessThan(600);
  });

  it('does not start when the signal has already aborted', async () => {
    const result = await waitHealthy(spec({ command: 'true' }), {
      ...options(),
      signal: AbortSignal.abort(),
    });
    expect(result).toMatchObject({ ok: false, attempts: 0, lastFailure: 'aborted' });
  });
});

describe('malformed specs', () => {
  it.each([
    ['no kind', spec({}), 'found none'],
    ['two kinds', spec({ http: 'http://127.0.0.1:1/', tcp: '127.0.0.1:1' }), 'found http and tcp'],
    ['a tcp address without a port', spec({ tcp: '127.0.0.1' }), 'health.tcp must be host:port'],
    ['a tcp port out of range', spec({ tcp: '127.0.0.1:70000' }), 'health.tcp must be host:port'],
    ['an http URL that is not one', spec({ http: '127.0.0.1:8080/health' }), 'health.http'],
  ])('throws E_MANIFEST_INVALID for %s', async (_name, malformed, message) => {
    const attempt = waitHealthy(malformed, options());
    await expect(attempt).rejects.toBeInstanceOf(FerryError);
    await expect(attempt).rejects.toMatchObject({ code: 'E_MANIFEST_INVALID' });
    await expect(attempt).rejects.toThrow(message);
  });
});

describe('one attempt (continuous health)', () => {
  it('answers once, with the failure, without retrying', async () => {
    let requests = 0;
    const { url } = await httpServer((_req, res) => {
      requests += 1;
      res.writeHead(500).end('boom');
    });
    const failure = await probeOnce(spec({ http: url }), options(), 2000);
    // With the body's start: what the service says is wrong.
    expect(failure).toBe(`HTTP 500 from ${url}, expected 200: "boom"`);
    expect(requests).toBe(1);
    await expect(probeOnce(spec({ command: 'true' }), options(), 2000)).resolves.toBeNull();
  });

  it('is bounded by its timeout when the service accepts and never answers', async () => {
    const { port } = await silentServer();
    const started = performance.now();
    const failure = await probeOnce(
      spec({ http: `http://127.0.0.1:${port}/health` }),
      options(),
      150,
    );
    expect(failure).toBe(`no answer from http://127.0.0.1:${port}/health within 150ms`);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('healthSpecFrom', () => {
  it('turns the manifest section, defaults filled in, into milliseconds', () => {
    const app = appManifestSchema.parse({
      health: { http: 'http://127.0.0.1:8080/health', contains: 'ok', interval: '500ms' },
    });
    // `every` is continuous health's (health-watch.ts), not the install check's.
    expect(app.health?.every).toBe('30s');
    expect(healthSpecFrom(app.health!)).toEqual({
      http: 'http://127.0.0.1:8080/health',
      contains: 'ok',
      expectStatus: 200,
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    const tcp = appManifestSchema.parse({ health: { tcp: 'db:5432', timeout: '2m' } });
    expect(healthSpecFrom(tcp.health!)).toEqual({
      tcp: 'db:5432',
      expectStatus: 200,
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
  });
});
