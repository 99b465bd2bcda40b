import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail } from '../../protocol/api.js';
import type { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { VariableService } from '../variable-service.js';
import type { InstallDispatcher } from './install-dispatcher.js';
import { RolloutDriver } from './rollout-driver.js';
import { openDriverStore, pendingRollout, until } from './rollout-driver-fixture.js';

/** The driver's looks: the pause after one, sending a batch, ends seen while it sends. */
let store: SqliteStore;
let opened: Awaited<ReturnType<typeof openDriverStore>>;

beforeEach(async () => {
  opened = await openDriverStore();
  store = opened.store;
});
afterEach(() => opened.close());

describe('RolloutDriver, the pause after a look', () => {
  it('is cut short by the end of the last install the batch waits on, and by close', async () => {
    // Three hosts, two a batch: A and B go first, C after them.
    const at = new Date().toISOString();
    const ids = ['a', 'b', 'c'];
    await pendingRollout(store, ids, 2, (index) => (index < 2 ? 0 : 1));
    const sent: string[] = [];
    let driver: RolloutDriver | undefined = undefined;
    const dispatcher = {
      send: async (install: { id: string }) => {
        sent.push(install.id);
        await store.installs.mark(install.id, { state: 'queued', sentAt: at }, ['pending']);
        // Something else happens during the look (a host connects): a pause follows it.
        driver?.wake();
      },
    } as unknown as InstallDispatcher;
    // A pause far longer than the test: only a cut-short pause lets it go on.
    driver = new RolloutDriver(
      store,
      {
        get: (app: string, version: number) =>
          Promise.resolve({ app, version, manifest: { role: app } } as unknown as BundleDetail),
      },
      dispatcher,
      {} as VariableService,
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      { replicaId: 'r1', leaseMs: 600_000, tickMs: 600_000, settleMs: 600_000 },
    );
    const end = async (n: string): Promise<void> => {
      await store.installs.finish(`ins_${n}`, { ok: true, rolledBack: false, error: null, at });
      driver.wake(`ins_${n}`);
    };
    driver.wake();
    try {
      await until('the first batch sent', () => sent.length === 2);
      // A's end leaves B awaited: the pause holds, C waits (a look would send it).
      await end('a');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sent).toEqual(['ins_a', 'ins_b']);
      // B's end is the batch's last: the next look comes at once and sends C.
      await end('b');
      await until('the second batch sent', () => sent.length === 3);
      expect(sent).toEqual(['ins_a', 'ins_b', 'ins_c']);
      // C's end completes the rollout at once.
      await end('c');
      await until(
        'the deployment complete',
        async () => (await store.deployments.get('dep_web'))?.state === 'succeeded',
      );
    } finally {
      // A close during a pause does not wait for it out.
      await driver.close();
    }
  });
});

describe('RolloutDriver, sending a batch', () => {
  it('sends its installs side by side, and one send that fails stops none of those under way', async () => {
    const at = new Date().toISOString();
    const ids = ['a', 'b', 'c', 'd'];
    await pendingRollout(store, ids, '100%');
    // Each send waits until every one has begun: sent one after another, none would end.
    let begun = 0;
    let allBegun: () => void = () => undefined;
    const everyOneBegun = new Promise<void>((resolve) => (allBegun = resolve));
    const sent: string[] = [];
    let bundleReads = 0;
    const errors: string[] = [];
    const driver = new RolloutDriver(
      store,
      {
        get: (app: string, version: number) => {
          bundleReads += 1;
          return Promise.resolve({
            app,
            version,
            manifest: { role: app },
          } as unknown as BundleDetail);
        },
      },
      {
        send: async (install: { id: string }) => {
          if (++begun === ids.length) allBegun();
          await everyOneBegun;
          // The fault: b's send fails (a broker that refused it, say).
          if (install.id === 'ins_b') throw new Error('the broker refused the job');
          await store.installs.mark(install.id, { state: 'queued', sentAt: at }, ['pending']);
          sent.push(install.id);
        },
      } as unknown as InstallDispatcher,
      {} as VariableService,
      {
        info: () => undefined,
        warn: () => undefined,
        error: (details: object) => errors.push(String((details as { err: Error }).err.message)),
      },
      { replicaId: 'r1', leaseMs: 600_000, tickMs: 600_000 },
    );
    try {
      driver.wake();
      await driver.idle();
    } finally {
      await driver.close();
    }
    expect(sent.sort()).toEqual(['ins_a', 'ins_c', 'ins_d']);
    expect((await store.installs.get('ins_b'))?.state).toBe('pending');
    expect(errors).toEqual(['the broker refused the job']);
    // The bundle is read once for the migration gate and once for the batch, not once per host.
    expect(bundleReads).toBe(2);
  });
});

describe('RolloutDriver, sending a batch when sends fail', () => {
  it('begins no send after one failed: those under way end, the rest wait for the next look', async () => {
    const at = new Date().toISOString();
    const ids = Array.from({ length: 20 }, (_, n) => String(n + 1));
    await pendingRollout(store, ids, '100%');
    // The fault: a broker that refuses the first send; the others wait until it has failed.
    const begun: string[] = [];
    let failedOne: () => void = () => undefined;
    const oneFailed = new Promise<void>((resolve) => (failedOne = resolve));
    const errors: string[] = [];
    const driver = new RolloutDriver(
      store,
      {
        get: (app: string, version: number) =>
          Promise.resolve({ app, version, manifest: { role: app } } as unknown as BundleDetail),
      },
      {
        send: async (install: { id: string }) => {
          begun.push(install.id);
          if (begun.length === 1) {
            setImmediate(failedOne);
            throw new Error('the broker refused the job');
          }
          await oneFailed;
          await store.installs.mark(install.id, { state: 'queued', sentAt: at }, ['pending']);
        },
      } as unknown as InstallDispatcher,
      {} as VariableService,
      {
        info: () => undefined,
        warn: () => undefined,
        error: (details: object, message: string) =>
          errors.push(`${message}: ${(details as { err: Error }).err.message}`),
      },
      { replicaId: 'r1', leaseMs: 600_000, tickMs: 600_000 },
    );
    try {
      driver.wake();
      await driver.idle();
    } finally {
      await driver.close();
    }
    // Sixteen begun at once; none after the failure.
    expect(begun).toHaveLength(16);
    const pending = (await store.installs.list({ deploymentId: 'dep_web' })).filter(
      (i) => i.state === 'pending',
    );
    expect(pending).toHaveLength(5);
    expect(errors).toEqual(['sending an install to its host failed: the broker refused the job']);
  });
});

describe('RolloutDriver, ends seen during the look that sent the batch', () => {
  it('cut the pause after it short', async () => {
    const at = new Date().toISOString();
    const ids = ['a', 'b', 'c'];
    await pendingRollout(store, ids, 2, (index) => (index < 2 ? 0 : 1));
    const sent: string[] = [];
    let driver: RolloutDriver | undefined = undefined;
    const end = async (n: string): Promise<void> => {
      await store.installs.finish(`ins_${n}`, { ok: true, rolledBack: false, error: null, at });
      driver?.wake(`ins_${n}`);
    };
    driver = new RolloutDriver(
      store,
      {
        get: (app: string, version: number) =>
          Promise.resolve({ app, version, manifest: { role: app } } as unknown as BundleDetail),
      },
      {
        send: async (install: { id: string }) => {
          sent.push(install.id);
          await store.installs.mark(install.id, { state: 'queued', sentAt: at }, ['pending']);
          // Both of the first batch end while the look that sent them is under way.
          if (install.id === 'ins_b') {
            await end('a');
            await end('b');
          }
        },
      } as unknown as InstallDispatcher,
      {} as VariableService,
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      // A pause far longer than the test: only a cut-short pause lets it go on.
      { replicaId: 'r1', leaseMs: 600_000, tickMs: 600_000, settleMs: 600_000 },
    );
    driver.wake();
    try {
      await until('the second batch sent', () => sent.length === 3);
      expect(sent.slice(2)).toEqual(['ins_c']);
    } finally {
      await driver.close();
    }
  });
});
