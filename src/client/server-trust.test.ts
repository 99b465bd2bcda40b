import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerTrust } from './server-trust.js';

/**
 * ServerTrust's fetch answers with the part of a `Response` Ferry's clients
 * and tests read, made without Node's `Response` (which loads undici): a real
 * server on loopback.
 */

let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((request, response) => {
    if (request.url === '/empty') {
      response.writeHead(204).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(request.url === '/missing' ? 404 : 200, 'Fine', {
        'content-type': 'application/json',
        'set-cookie': ['a=1', 'b=2'],
        'x-ferry-sha256': 'abc',
      });
      response.end(
        JSON.stringify({
          method: request.method,
          header: request.headers['x-asked'],
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("ServerTrust's fetch", () => {
  const { fetch } = ServerTrust.system();

  it('sends the method, headers and body, and answers status, headers and the body', async () => {
    const response = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'X-Asked': 'yes' },
      body: 'hello',
    });
    expect([response.ok, response.status, response.statusText]).toEqual([true, 200, 'Fine']);
    expect(response.headers.get('X-Ferry-Sha256')).toBe('abc');
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(response.headers.has('x-missing')).toBe(false);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/json',
    });
    expect(await response.json()).toEqual({ method: 'POST', header: 'yes', body: 'hello' });
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow(/already been read/);
  });

  it('reads a clone and the original each whole, and the body as a stream', async () => {
    const response = await fetch(`${base}/missing`);
    expect([response.ok, response.status]).toEqual([false, 404]);
    const copy = response.clone();
    expect(JSON.parse(await copy.text())).toMatchObject({ method: 'GET' });
    expect(JSON.parse(await response.text())).toMatchObject({ method: 'GET' });

    const streamed = await fetch(`${base}/stream`, { headers: [['x-asked', 'pairs']] });
    const text = await new Response(streamed.body).text();
    expect(JSON.parse(text)).toMatchObject({ header: 'pairs' });
  });

  it('answers an empty body for 204', async () => {
    const response = await fetch(`${base}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
    expect(await response.text()).toBe('');
  });
});
