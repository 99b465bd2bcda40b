import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendNotification, signBody } from './webhook-sender.js';

/**
 * What a failed attempt keeps of a receiver's answer, against a real HTTP
 * server: its status and the standard reason only, never its body, reason
 * phrase or redirect target (a webhook's URL may point at an internal page).
 */

let server: Server;
let base = '';
const what = { id: 'wh_1:7', kind: 'alert.raised', secret: 'whsec_test' };

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const signed = request.headers['x-ferry-signature'] === signBody('{}', what.secret);
      if (request.url === '/ok') response.writeHead(signed ? 204 : 401).end();
      else if (request.url === '/internal')
        response
          .writeHead(500, 'Secret Reason aws_key=AKIA', { 'content-type': 'text/plain' })
          .end('instance-id: i-0abc\naws_secret=hunter2\n');
      else if (request.url === '/moved')
        response.writeHead(302, { location: 'http://10.0.0.5/admin?token=abc' }).end('see there');
      else response.writeHead(599).end('odd');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('sendNotification', () => {
  it('delivers on 2xx, signed', async () => {
    expect(await sendNotification(`${base}/ok`, '{}', what, 3000)).toEqual({
      ok: true,
      status: 204,
      error: null,
    });
  });

  it("keeps a status line only: not the receiver's body, reason phrase or Location", async () => {
    const internal = await sendNotification(`${base}/internal`, '{}', what, 3000);
    expect(internal).toEqual({ ok: false, status: 500, error: 'HTTP 500 Internal Server Error' });
    const moved = await sendNotification(`${base}/moved`, '{}', what, 3000);
    expect(moved).toEqual({
      ok: false,
      status: 302,
      error: 'HTTP 302 Found: redirects are not followed',
    });
    expect(await sendNotification(`${base}/odd`, '{}', what, 3000)).toEqual({
      ok: false,
      status: 599,
      error: 'HTTP 599',
    });
  });

  it('names a refused connection by its class', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await sendNotification(`http://127.0.0.1:${port}/x`, '{}', what, 3000)).toEqual({
      ok: false,
      status: null,
      error: 'ECONNREFUSED',
    });
  });
});
