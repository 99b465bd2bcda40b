import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstallWanted } from '../protocol/deployment-api.js';
import { WantedRefusal } from '../transport/transport.js';
import { FinalJobError } from '../transport/unhandled-job.js';
import { askWanted } from './install-wanted.js';

// The question as the agent asks it, on its connection (a stand-in for the
// transport's `askWanted`, which its own contract tests cover) and over HTTP
// to a real local server: how each answer is taken, and when HTTP is used.

let server: http.Server;
let httpAsks: string[];
let identity: { server: string; token: string };

beforeEach(async () => {
  httpAsks = [];
  server = http.createServer((request, response) => {
    httpAsks.push(request.url ?? '');
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ proceed: true, reason: null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  identity = {
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 'agent-token',
  };
});
afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const quick = { timeoutMs: 200, attempts: 3, initialDelayMs: 10 };

describe('askWanted on the connection', () => {
  it("takes the connection's answer, without asking over HTTP", async () => {
    const answer: InstallWanted = { proceed: false, reason: 'cancelled' };
    await expect(
      askWanted(identity, 'ins_1', { ...quick, onConnection: () => Promise.resolve(answer) }),
    ).resolves.toEqual(answer);
    expect(httpAsks).toEqual([]);
  });

  it('takes "no such install" as a no', async () => {
    const onConnection = () =>
      Promise.reject(new WantedRefusal('E_INSTALL_NOT_FOUND', 404, 'no such install'));
    await expect(askWanted(identity, 'ins_1', { ...quick, onConnection })).resolves.toEqual({
      proceed: false,
      reason: 'the server has no such install for this host',
    });
  });

  it('ends the job at once on a refusal asking again will not change', async () => {
    const onConnection = () =>
      Promise.reject(new WantedRefusal('E_AUTH_INVALID', 401, 'the token is revoked'));
    await expect(askWanted(identity, 'ins_1', { ...quick, onConnection })).rejects.toBeInstanceOf(
      FinalJobError,
    );
    expect(httpAsks).toEqual([]);
  });

  it('asks again on the connection after a 5xx refusal', async () => {
    let asked = 0;
    const onConnection = () => {
      asked++;
      return asked === 1
        ? Promise.reject(new WantedRefusal('E_INTERNAL', 503, 'busy'))
        : Promise.resolve({ proceed: true, reason: null });
    };
    await expect(askWanted(identity, 'ins_1', { ...quick, onConnection })).resolves.toEqual({
      proceed: true,
      reason: null,
    });
    expect(asked).toBe(2);
    expect(httpAsks).toEqual([]);
  });

  it('asks over HTTP once the connection gave no answer in time', async () => {
    let asked = 0;
    // A connection whose traffic is dropped: open, but nothing comes back.
    const onConnection = (_id: string, signal: AbortSignal) => {
      asked++;
      return new Promise<InstallWanted>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason as Error)),
      );
    };
    const retries: string[] = [];
    await expect(
      askWanted(identity, 'ins_1', {
        ...quick,
        onConnection,
        onRetry: (err) => retries.push(err.message),
      }),
    ).resolves.toEqual({ proceed: true, reason: null });
    expect(asked).toBe(1);
    expect(httpAsks).toHaveLength(1);
    expect(httpAsks[0]).toContain('ins_1');
    expect(retries[0]).toContain("on the agent's connection (no answer in 200 ms)");
  });
});
