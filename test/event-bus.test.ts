import type { FastifyBaseLogger } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FerryEvent, NewFerryEvent } from '../src/protocol/events.js';
import { EventBus } from '../src/server/events/event-bus.js';
import type { Store } from '../src/store/store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * The event bus over a real store: each subscriber gets every event it asks
 * for once and in order, live or resuming after an id; with PostgreSQL, a
 * bus on a second replica hears the first replica's events.
 */

const errors: unknown[] = [];
const logger = {
  error: (...args: unknown[]) => errors.push(args),
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
} as unknown as FastifyBaseLogger;

function pushed(app: string, version: number): NewFerryEvent {
  return {
    kind: 'bundle.pushed',
    app,
    env: null,
    deploymentId: null,
    hostId: null,
    data: { version, sha256: 'a'.repeat(64), label: null, by: 'test' },
  };
}

/** A subscriber that keeps what it is given. */
function collector(limit = Infinity) {
  const got: FerryEvent[] = [];
  const drops: string[] = [];
  return {
    got,
    drops,
    deliver(event: FerryEvent) {
      got.push(event);
      return got.length < limit;
    },
    dropped(reason: string) {
      drops.push(reason);
    },
  };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const versions = (events: FerryEvent[]) =>
  events.map((e) => (e.kind === 'bundle.pushed' ? e.data.version : -1));

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`the event bus on ${dialect.name}`, () => {
    let opened: StoreUnderTest;
    let store: Store;
    const buses: EventBus[] = [];

    beforeAll(async () => {
      opened = await dialect.open();
      store = opened.store;
    });
    afterEach(async () => {
      for (const bus of buses.splice(0)) await bus.stop();
      expect(errors).toEqual([]);
    });
    afterAll(() => opened.close());

    async function startBus(on: Store = store): Promise<EventBus> {
      const bus = new EventBus(on, logger);
      await bus.start();
      buses.push(bus);
      return bus;
    }

    it('hands each new event to a live subscriber once, in order, filtered', async () => {
      const bus = await startBus();
      const all = collector();
      const cart = collector();
      await bus.subscribe({}, undefined, all);
      await bus.subscribe({ app: 'cart' }, undefined, cart);
      for (let v = 1; v <= 6; v++) await bus.publish(pushed(v % 2 ? 'cart' : 'web', v));
      expect(versions(all.got)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(versions(cart.got)).toEqual([1, 3, 5]);
      const ids = all.got.map((e) => Number(e.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(new Set(ids).size).toBe(6);
    });

    it('hands out what it appended without reading it back, and reads only past a gap, each once in order', async () => {
      let reads = 0;
      const counting = new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'events') return Reflect.get(target, property, receiver) as unknown;
          return new Proxy(target.events, {
            get(events, name) {
              if (name === 'list') {
                return (query: Parameters<Store['events']['list']>[0]) => {
                  reads++;
                  return events.list(query);
                };
              }
              const value = Reflect.get(events, name) as unknown;
              return typeof value === 'function' ? (value as () => unknown).bind(events) : value;
            },
          });
        },
      });
      const quiet = new EventBus(counting, logger);
      await quiet.start();
      buses.push(quiet);
      const heard = collector();
      await quiet.subscribe({ app: 'own' }, undefined, heard);
      // Published one after another and all at once: none is read back.
      for (let v = 1; v <= 5; v++) await quiet.publish(pushed('own', v));
      await Promise.all([6, 7, 8, 9, 10].map((v) => quiet.publish(pushed('own', v))));
      // Those published at once in the order the store numbered them.
      const inOrder = () => {
        const ids = heard.got.map((e) => Number(e.id));
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      };
      inOrder();
      expect(versions(heard.got).slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
      expect([...versions(heard.got)].sort((a, b) => a - b)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
      // On PostgreSQL the notice of an append may come before the append's own
      // answer: the bus then reads it (once), but not one read per event.
      if (dialect.name === 'sqlite') expect(reads).toBe(0);
      else expect(reads).toBeLessThan(10);
      const before = reads;
      // Another writer's event in between (another replica's, say): read from the store, in its place.
      await store.events.append(pushed('own', 11));
      await quiet.publish(pushed('own', 12));
      expect(versions(heard.got).slice(-2)).toEqual([11, 12]);
      expect(reads).toBeGreaterThan(before);
      inOrder();
    });

    it('hands out its own append, once published, when a read begun before it is under way', async () => {
      // Another replica's event wakes the bus (its notice); the read that
      // follows answers before this replica's next append is recorded, and
      // is held until that append has found the read under way.
      let notice: ((id?: number) => void) | undefined;
      let gate!: () => void;
      const held = new Promise<void>((resolve) => (gate = resolve));
      let holding = false;
      const watched = new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'events') return Reflect.get(target, property, receiver) as unknown;
          return new Proxy(target.events, {
            get(events, name) {
              if (name === 'watch') {
                return (callback: (id?: number) => void) => {
                  notice = callback;
                  return Promise.resolve(() => Promise.resolve());
                };
              }
              if (name === 'list') {
                return async (query: Parameters<Store['events']['list']>[0]) => {
                  const page = await events.list(query);
                  if (holding) await held;
                  return page;
                };
              }
              const value = Reflect.get(events, name) as unknown;
              return typeof value === 'function' ? (value as () => unknown).bind(events) : value;
            },
          });
        },
      });
      const bus = new EventBus(watched, logger);
      await bus.start();
      buses.push(bus);
      const heard = collector();
      await bus.subscribe({ app: 'raced' }, undefined, heard);
      await bus.publish(pushed('raced', 1));
      const other = await store.events.append(pushed('raced', 2));
      holding = true;
      notice!(Number(other.id));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const publishing = bus.publish(pushed('raced', 3));
      await new Promise((resolve) => setTimeout(resolve, 20));
      holding = false;
      gate();
      await publishing;
      expect(versions(heard.got)).toEqual([1, 2, 3]);
    });

    it('replays what a resuming subscriber missed, then goes on live without repeats', async () => {
      const bus = await startBus();
      const first = collector();
      await bus.subscribe({ app: 'resume' }, undefined, first);
      for (let v = 1; v <= 4; v++) await bus.publish(pushed('resume', v));
      const seen = first.got[1]!.id;
      const resumed = collector();
      // Events published while the past is read are heard, and delivered once.
      const publishing = (async () => {
        for (let v = 5; v <= 30; v++) await bus.publish(pushed('resume', v));
      })();
      await bus.subscribe({ app: 'resume' }, Number(seen), resumed);
      await publishing;
      await until(() => versions(resumed.got).at(-1) === 30, 'the last event');
      expect(versions(resumed.got)).toEqual(Array.from({ length: 28 }, (_, i) => i + 3));
    });

    it('drops a subscriber that cannot keep up, and says why', async () => {
      const bus = await startBus();
      const slow = collector(2);
      await bus.subscribe({ app: 'slow' }, undefined, slow);
      for (let v = 1; v <= 4; v++) await bus.publish(pushed('slow', v));
      expect(versions(slow.got)).toEqual([1, 2]);
      expect(slow.drops).toEqual(['the client is not keeping up']);
    });

    it('resumes from now for an id beyond the newest', async () => {
      const bus = await startBus();
      const got = collector();
      await bus.subscribe({ app: 'future' }, 10_000_000, got);
      await bus.publish(pushed('future', 1));
      expect(versions(got.got)).toEqual([1]);
    });

    it('prunes old events but never the newest', async () => {
      await store.events.append({ ...pushed('old', 1), at: '2000-01-01T00:00:00.000Z' });
      const last = await store.events.lastId();
      expect(await store.events.prune('2100-01-01T00:00:00.000Z')).toBeGreaterThan(0);
      expect(await store.events.firstId()).toBe(last);
      expect(await store.events.lastId()).toBe(last);
    });

    it('runs a local effect for each event published here, off the writer, its failures logged', async () => {
      const bus = await startBus();
      const seen: number[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      bus.onLocal('bundle.pushed', async (event) => {
        await held;
        if (event.data.version === 2) throw new Error('effect broke');
        seen.push(event.data.version);
      });
      // The writer is not held up by its effects.
      for (let v = 1; v <= 3; v++) await bus.publish(pushed('local', v));
      expect(seen).toEqual([]);
      release();
      await bus.idle();
      expect(seen.sort()).toEqual([1, 3]);
      expect(errors.splice(0)).toEqual([
        [
          { err: new Error('effect broke'), kind: 'bundle.pushed' },
          'a local effect of an event failed',
        ],
      ]);
    });

    it('withEffects waits for the effects its writes started, and theirs, and throws the first failure', async () => {
      const bus = await startBus();
      const done: string[] = [];
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      bus.onLocal('bundle.pushed', async (event) => {
        await (event.app === 'unscoped' ? gate : new Promise((r) => setTimeout(r, 30)));
        if (event.data.version === 2) throw new Error('effect broke');
        done.push(`pushed ${event.data.version}`);
        // An effect's own write: its effects are the message's too.
        if (event.data.version === 1) await bus.publish(pushed('scoped', 10));
      });
      bus.onLocal('host.cut-off', async () => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        done.push('reported');
      });
      // What an `on` listener starts runs on its own (a rollout driver's tick):
      // not waited for, though it writes while the effects above still run.
      let listenerWork: Promise<void> | undefined;
      bus.on(['bundle.pushed'], (event) => {
        if (event.kind === 'bundle.pushed' && event.app === 'scoped' && event.data.version === 1)
          listenerWork = new Promise((resolve) => setTimeout(resolve, 100)).then(() =>
            bus.publish(pushed('unscoped', 99)),
          );
      });
      const scoped = bus.withEffects(async () => {
        await bus.publish(pushed('scoped', 1));
        bus.notify({ kind: 'host.cut-off', hostId: 'host_x' });
        return 'work done';
      });
      const late = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000));
      const outcome = await Promise.race([scoped, late]);
      expect([...done].sort()).toEqual(['pushed 1', 'pushed 10', 'reported']);
      open();
      expect(outcome).toBe('work done');
      await expect(bus.withEffects(() => bus.publish(pushed('scoped', 2)))).rejects.toThrow(
        'effect broke',
      );
      expect(errors.splice(0)).toEqual([
        [
          { err: new Error('effect broke'), kind: 'bundle.pushed' },
          'a local effect of an event failed',
        ],
      ]);
      await listenerWork;
      await bus.idle();
      expect(done).toContain('pushed 99');
    });

    it('runs local effects of a change whose event could not be recorded, and of local notices', async () => {
      const events = new Proxy(store.events, {
        get(target, property, receiver) {
          if (property === 'append') return () => Promise.reject(new Error('disk full'));
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      });
      const failing = new Proxy(store, {
        get: (target, property, receiver) =>
          property === 'events' ? events : (Reflect.get(target, property, receiver) as unknown),
      });
      const bus = await startBus(failing);
      const heard: FerryEvent[] = [];
      bus.on(['bundle.pushed'], (event) => heard.push(event));
      const local: string[] = [];
      bus.onLocal('bundle.pushed', (event) => void local.push(`pushed ${event.data.version}`));
      bus.onLocal('host.cut-off', (notice) => void local.push(`cut-off ${notice.hostId}`));
      await bus.publish(pushed('unrecorded', 7));
      bus.notify({ kind: 'host.cut-off', hostId: 'host_x' });
      await bus.idle();
      expect(local).toEqual(['pushed 7', 'cut-off host_x']);
      // Not recorded: not heard, not streamed.
      expect(heard).toEqual([]);
      expect(errors.splice(0)).toEqual([
        [{ err: new Error('disk full'), kind: 'bundle.pushed' }, 'an event could not be recorded'],
      ]);
    });

    it.skipIf(dialect.name !== 'postgres')(
      'with two replicas, a local effect runs once, on the replica that published; `on` runs on both',
      async () => {
        const a = await startBus();
        const b = await startBus(await opened.another());
        const effects: string[] = [];
        const heard: string[] = [];
        for (const [name, bus] of [
          ['a', a],
          ['b', b],
        ] as const) {
          bus.onLocal('bundle.pushed', (event) => {
            if (event.app === 'effects') effects.push(`${name}:${event.data.version}`);
          });
          bus.on(['bundle.pushed'], (event) => {
            if (event.app === 'effects' && event.kind === 'bundle.pushed')
              heard.push(`${name}:${event.data.version}`);
          });
        }
        await Promise.all([
          (async () => {
            for (let v = 0; v < 10; v++) await a.publish(pushed('effects', v * 2));
          })(),
          (async () => {
            for (let v = 0; v < 10; v++) await b.publish(pushed('effects', v * 2 + 1));
          })(),
        ]);
        await until(() => heard.length === 40, 'every event heard on both replicas');
        await Promise.all([a.idle(), b.idle()]);
        const byVersion = (list: string[]) =>
          [...list].sort((x, y) => Number(x.split(':')[1]) - Number(y.split(':')[1]));
        expect(byVersion(effects)).toEqual(
          Array.from({ length: 20 }, (_, v) => `${v % 2 ? 'b' : 'a'}:${v}`),
        );
        for (const name of ['a', 'b']) {
          expect(heard.filter((h) => h.startsWith(`${name}:`))).toHaveLength(20);
        }
      },
    );

    it.skipIf(dialect.name !== 'postgres')(
      "with two replicas, each streams the other's events, every one once and in order",
      async () => {
        const other = await opened.another();
        const a = await startBus();
        const b = await startBus(other);
        const onA = collector();
        const onB = collector();
        await a.subscribe({ app: 'replicas' }, undefined, onA);
        await b.subscribe({ app: 'replicas' }, undefined, onB);
        // Both replicas publish at once: ids may be taken in any order, but a
        // reader must never see a later id before an earlier one commits.
        await Promise.all([
          (async () => {
            for (let v = 0; v < 40; v++) await a.publish(pushed('replicas', v * 2));
          })(),
          (async () => {
            for (let v = 0; v < 40; v++) await b.publish(pushed('replicas', v * 2 + 1));
          })(),
        ]);
        await until(() => onA.got.length === 80 && onB.got.length === 80, '80 events on both');
        for (const got of [onA.got, onB.got]) {
          const ids = got.map((e) => Number(e.id));
          expect([...ids].sort((x, y) => x - y)).toEqual(ids);
          expect(versions(got).sort((x, y) => x - y)).toEqual(
            Array.from({ length: 80 }, (_, i) => i),
          );
        }
        expect(onA.got.map((e) => e.id)).toEqual(onB.got.map((e) => e.id));
      },
    );
  });
}
