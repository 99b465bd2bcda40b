import { FerryError } from '../../protocol/errors.js';
import { type EventFilter, eventIdTextSchema, STREAM_GAP_EVENT } from '../../protocol/events.js';
import type { Store } from '../../store/store.js';
import { type CredentialWatch, watchCredential } from '../events/credential-watch.js';
import type { EventBus } from '../events/event-bus.js';
import { parseInput } from './parse-input.js';
import { routePlugin } from './route-plugin.js';

/** Past this much unsent output, a client is dropped; it resumes with `Last-Event-ID`. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** How the stream behaves over time. */
export interface EventStreamOptions {
  /**
   * How often an open stream gets a comment line (so that proxies and load
   * balancers do not close it as idle) and its sign-in is checked again.
   */
  heartbeatMs: number;
}

/**
 * The live event stream as Server-Sent Events: every change the server (or
 * any replica) records, filtered by app, environment, deployment, host or kind.
 * A client that reconnects with `Last-Event-ID` receives what it missed, once.
 *
 * A stream lasts only as long as what it was opened with: it ends when its
 * session is signed out or its token revoked (at once on this replica, at
 * the next heartbeat when another replica did it) and when its session
 * expires. The client then reconnects, and is refused.
 */
export function eventRoutes(bus: EventBus, store: Store, options: EventStreamOptions) {
  return routePlugin('events', {
    events: async ({ query, request, reply, token }) => {
      const header = request.headers['last-event-id'];
      const resume =
        header === undefined
          ? undefined
          : parseInput(
              eventIdTextSchema,
              Array.isArray(header) ? header[0] : header,
              'Last-Event-ID',
            );
      const after = resume ?? query.after;
      const filter: EventFilter = {
        app: query.app,
        env: query.env,
        deploymentId: query.deployment,
        hostId: query.host === undefined ? undefined : await hostId(store, query.host),
        kinds: query.kinds,
      };

      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses unless told not to.
        'x-accel-buffering': 'no',
      });
      // HEAD (Fastify answers it for every GET): the headers are the answer, and no
      // stream is held open. Node sends nothing of a HEAD's body, and so, without
      // an end, not even its headers.
      if (request.method === 'HEAD') {
        out.end();
        return reply;
      }
      out.write('retry: 2000\n\n');
      if (after !== undefined) {
        const oldest = await bus.oldestKept();
        if (oldest > Number(after) + 1) {
          const gap = JSON.stringify({ after, oldestKept: String(oldest) });
          out.write(`event: ${STREAM_GAP_EVENT}\ndata: ${gap}\n\n`);
        }
      }
      // Nothing below waits before the subscription is made, for a stream that
      // starts now: a client that has the answer is subscribed (see `onOpen`).
      let ended = false;
      // Set once made; a client gone before the subscription is closed right after.
      const held: { subscription?: { close(): void }; watch?: CredentialWatch } = {};
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        held.watch?.close();
        held.subscription?.close();
        out.end();
      };
      const signedOut = (reason: string): void => {
        if (!ended)
          request.log.info({ reason }, 'event stream ended: its sign-in no longer counts');
        end();
      };
      let checking = false;
      const heartbeat = setInterval(() => {
        out.write(': keep-alive\n\n');
        const watch = held.watch;
        if (checking || watch === undefined) return;
        checking = true;
        void watch
          .stillCounts()
          .then(
            (counts) => counts || signedOut('signed out, revoked or expired'),
            (err: unknown) => {
              // Not knowing is not counting: the client resumes, and is checked as it does.
              request.log.warn({ err }, 'event stream ended: its sign-in could not be checked');
              end();
            },
          )
          .finally(() => (checking = false));
      }, options.heartbeatMs);
      heartbeat.unref();
      request.raw.on('close', end);
      held.watch = watchCredential(
        { token, session: request.session },
        { store, events: bus },
        signedOut,
      );
      const subscription = await bus.subscribe(
        filter,
        after === undefined ? undefined : Number(after),
        {
          deliver: (event) => {
            if (ended) return true;
            out.write(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
            return out.writableLength <= MAX_BUFFERED_BYTES;
          },
          dropped: (reason) => {
            if (!ended) request.log.info({ reason }, 'event stream ended by the server');
            end();
          },
        },
      );
      held.subscription = subscription;
      if (ended) subscription.close();
      return reply;
    },
  });
}

async function hostId(store: Store, nameOrId: string): Promise<string> {
  const host = (await store.hosts.findByName(nameOrId)) ?? (await store.hosts.get(nameOrId));
  if (!host) throw new FerryError('E_HOST_NOT_FOUND', `No host named ${nameOrId}`);
  return host.id;
}
