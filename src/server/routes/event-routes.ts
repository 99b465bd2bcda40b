import { FerryError } from '../../protocol/errors.js';
import { type EventFilter, eventIdTextSchema, STREAM_GAP_EVENT } from '../../protocol/events.js';
import type { Store } from '../../store/store.js';
import type { EventBus } from '../events/event-bus.js';
import { parseInput } from './parse-input.js';
import { routePlugin } from './route-plugin.js';

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/** Past this much unsent output, a client is dropped; it resumes with `Last-Event-ID`. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * The live event stream as Server-Sent Events: every change the server (or
 * any replica) records, filtered by app, environment, deployment, host or kind.
 * A client that reconnects with `Last-Event-ID` receives what it missed, once.
 */
export function eventRoutes(bus: EventBus, store: Store) {
  return routePlugin('events', {
    events: async ({ query, request, reply }) => {
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
      // Set once subscribed; a client gone before that is closed right after.
      const held: { subscription?: { close(): void } } = {};
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        held.subscription?.close();
        out.end();
      };
      const heartbeat = setInterval(() => out.write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      request.raw.on('close', end);
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
