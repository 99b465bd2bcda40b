import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../src/protocol/api.js';
import type { BuiltServer } from '../src/server/build-server.js';
import { openSessionServer, type SessionServer } from './helpers/session-server.js';
import { STORE_DIALECTS } from './helpers/store-dialects.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * The live event stream lasts only as long as what it was opened with: a
 * stream opened with the dashboard's cookie or a bearer token ends when the
 * session is signed out or the token revoked — at once on the replica that
 * did it, at the next heartbeat on another — and when the session expires,
 * and it does not deliver what happens after. Real HTTP, both store dialects.
 */

/** How long a stream that should end is given: far more than a heartbeat of the fast replica. */
const ENDS_WITHIN_MS = 5_000;

interface OpenStream {
  /** Everything the stream has carried so far. */
  text(): string;
  /** Resolves true when the server ended the stream, false if it is still open after `ms`. */
  endsWithin(ms: number): Promise<boolean>;
  abort(): void;
}

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`the event stream and its sign-in (${dialect.name})`, () => {
    let s: SessionServer;
    /** Another replica, whose heartbeat (0.1 s) is what finds another replica's sign-outs. */
    let fast: BuiltServer;
    /** Another replica whose sessions last 3 s, and whose heartbeat is the default 15 s. */
    let brief: BuiltServer;
    const streams: OpenStream[] = [];

    beforeAll(async () => {
      s = await openSessionServer(dialect);
      fast = await s.replica({ events: { heartbeatSeconds: 0.1 } });
      brief = await s.replica({ sessions: { ttlHours: 3 / 3600 } });
      for (const built of [s.server, fast, brief])
        await built.app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterEach(() => {
      for (const stream of streams.splice(0)) stream.abort();
    });
    afterAll(async () => {
      await s?.close();
    });

    /** Opens a stream of verdicts on `app`, and waits until an event made there arrives on it. */
    async function openStream(app: BuiltServer['app'], headers: Record<string, string>) {
      const { port } = app.server.address() as AddressInfo;
      const controller = new AbortController();
      const response = await harnessFetch(
        `http://127.0.0.1:${port}${API_PREFIX}/events?app=cart&kinds=verdict.changed`,
        { headers, signal: controller.signal },
      );
      expect(response.status).toBe(200);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      let endedByServer = false;
      const reading = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            endedByServer = true;
            return;
          }
          text += value;
        }
      })().catch(() => undefined);
      const stream: OpenStream = {
        text: () => text,
        async endsWithin(ms) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            reading,
            new Promise((resolve) => (timer = setTimeout(resolve, ms))),
          ]);
          clearTimeout(timer);
          return endedByServer;
        },
        abort: () => controller.abort(),
      };
      streams.push(stream);
      // Subscribed: an event made on its own replica reaches it.
      const probe = `probe-${Math.random().toString(36).slice(2)}`;
      await s.markCart(probe, app);
      for (let i = 0; i < 100 && !text.includes(probe); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(text).toContain(probe);
      return stream;
    }

    async function qaToken(name: string) {
      return s.server.tokens.create({ role: 'qa', name }, null);
    }

    function signOut(app: BuiltServer['app'], cookie: string, csrf: string) {
      return app.inject({
        method: 'DELETE',
        url: `${API_PREFIX}/session`,
        headers: { cookie: `ferry_session=${cookie}`, 'x-ferry-csrf': csrf },
      });
    }

    it('ends a cookie stream as soon as its session is signed out on the same replica, and delivers nothing after', async () => {
      const made = await qaToken('sam');
      const { cookie, csrf } = await s.signIn(made.token);
      const stream = await openStream(s.server.app, { cookie: `ferry_session=${cookie}` });

      expect((await signOut(s.server.app, cookie!, csrf!)).statusCode).toBe(204);
      await s.markCart('after-sign-out');
      // This replica's heartbeat is 15 s: only the sign-out itself can have ended it.
      expect(await stream.endsWithin(ENDS_WITHIN_MS)).toBe(true);
      expect(stream.text()).not.toContain('after-sign-out');
    });

    it('ends a cookie stream, and a bearer stream, as soon as their token is revoked on the same replica', async () => {
      const made = await qaToken('rae');
      const { cookie } = await s.signIn(made.token);
      const byCookie = await openStream(s.server.app, { cookie: `ferry_session=${cookie}` });
      const byBearer = await openStream(s.server.app, { authorization: `Bearer ${made.token}` });

      await s.server.tokens.revoke(made.id, 'admin');
      await s.markCart('after-revoke');
      for (const stream of [byCookie, byBearer]) {
        expect(await stream.endsWithin(ENDS_WITHIN_MS)).toBe(true);
        expect(stream.text()).not.toContain('after-revoke');
      }
    });

    it("ends another replica's streams at its next heartbeat: a session signed out, a token revoked", async () => {
      const signedOut = await qaToken('ola');
      const session = await s.signIn(signedOut.token);
      const byCookie = await openStream(fast.app, { cookie: `ferry_session=${session.cookie}` });
      const revoked = await qaToken('ria');
      const byBearer = await openStream(fast.app, { authorization: `Bearer ${revoked.token}` });
      const bystander = await openStream(fast.app, { authorization: `Bearer ${s.admin}` });

      expect((await signOut(s.server.app, session.cookie!, session.csrf!)).statusCode).toBe(204);
      await s.server.tokens.revoke(revoked.id, 'admin');
      for (const stream of [byCookie, byBearer]) {
        expect(await stream.endsWithin(ENDS_WITHIN_MS)).toBe(true);
      }
      await s.markCart('after-elsewhere', fast.app);
      for (const stream of [byCookie, byBearer]) {
        expect(stream.text()).not.toContain('after-elsewhere');
      }
      // A stream whose sign-in still counts is left alone by the same heartbeats.
      for (let i = 0; i < 100 && !bystander.text().includes('after-elsewhere'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(bystander.text()).toContain('after-elsewhere');
      expect(await bystander.endsWithin(300)).toBe(false);
    });

    it('ends a cookie stream when its session expires, before any heartbeat could notice', async () => {
      const made = await qaToken('eve');
      const { answer, cookie } = await s.signIn(made.token, {}, brief.app);
      const expiresAt = Date.parse(answer.json<{ expiresAt: string }>().expiresAt);
      const stream = await openStream(brief.app, { cookie: `ferry_session=${cookie}` });

      expect(await stream.endsWithin(expiresAt - Date.now() + ENDS_WITHIN_MS)).toBe(true);
      // Not before its time (the clock's milliseconds are all the slack there is).
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 5);
      await s.markCart('after-expiry', brief.app);
      expect(stream.text()).not.toContain('after-expiry');
    });
  });
}
