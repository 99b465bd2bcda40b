import { afterAll, describe, expect, it } from 'vitest';
import { harnessFetch, trustHarnessCa } from '../src/dev/harness-trust.js';
import { LocalServer } from '../src/dev/local-server.js';
import { API_PREFIX } from '../src/protocol/api.js';

/**
 * The dashboard's session cookie over a real `ferry server`: `Secure` when the
 * server speaks HTTPS (its default), so a browser never sends it in clear;
 * without `Secure` only over `--insecure-http`, where a browser would drop a
 * Secure cookie and the page could not sign in at all.
 */

const servers: LocalServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => undefined);
});

async function signInCookie(args: string[]): Promise<{ url: string; cookie: string }> {
  const server = await LocalServer.start({ args });
  servers.push(server);
  if (server.caPem) trustHarnessCa(server.caPem);
  const answer = await harnessFetch(`${server.url}${API_PREFIX}/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ token: server.adminToken }),
  });
  expect(answer.status, await answer.clone().text()).toBe(201);
  return { url: server.url, cookie: answer.headers.get('set-cookie') ?? '' };
}

describe('the session cookie on the wire', () => {
  it('is Secure over HTTPS, HttpOnly and SameSite=Strict', async () => {
    const { url, cookie } = await signInCookie([]);
    expect(url).toMatch(/^https:\/\//);
    expect(cookie).toMatch(/^ferry_session=[A-Za-z0-9_-]{43};/);
    expect(cookie.split('; ')).toEqual(
      expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Secure']),
    );
  });

  it('is not Secure over --insecure-http (a browser would refuse to keep it)', async () => {
    const { url, cookie } = await signInCookie(['--insecure-http']);
    expect(url).toMatch(/^http:\/\//);
    expect(cookie).toMatch(/^ferry_session=/);
    expect(cookie.split('; ')).not.toContain('Secure');
  });
});
