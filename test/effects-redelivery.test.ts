import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { PROTOCOL_VERSION, type AgentEvent } from '../src/protocol/messages.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { NewInstall, Store } from '../src/store/store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';
import { capturingTransport } from './helpers/capturing-transport.js';

/**
 * What an agent's report of a job's end sets off on the server — a failed
 * install in QA marks its bundle failed; a host that catches up completes a
 * `partial` deployment — has run before the report is acknowledged. A fault
 * injected in the store makes that effect fail once: the report is not
 * acknowledged, and when it is delivered again (the install's end already
 * recorded) the effect runs again, once, whatever the number of deliveries.
 */

const STRATEGY = { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '5m' };

/**
 * The store with a fault to inject: the next call of a method (`verdicts.record`,
 * whose arguments `when` accepts) fails.
 */
function faultyStore(store: Store): {
  store: Store;
  failNext: (method: `${string}.${string}`, when?: (args: unknown[]) => boolean) => void;
} {
  const faults = new Map<string, (args: unknown[]) => boolean>();
  const faultyAggregate = (name: string, aggregate: object): object =>
    new Proxy(aggregate, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        const method = `${name}.${String(property)}`;
        return (...args: unknown[]) => {
          const when = faults.get(method);
          if (when?.(args)) {
            faults.delete(method);
            return Promise.reject(new Error(`injected: ${method} failed`));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const faulty = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value === 'object' && value !== null && typeof property === 'string')
        return faultyAggregate(property, value);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { store: faulty, failNext: (method, when = () => true) => faults.set(method, when) };
}

let seq = 0;
function jobFinished(jobId: string, ok: boolean): AgentEvent {
  return {
    v: PROTOCOL_VERSION,
    id: `ev-${++seq}`,
    type: 'job.finished',
    jobId,
    ok,
    rolledBack: false,
    declined: false,
    error: ok ? null : 'the health check failed',
  };
}

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`effects of an agent's report on ${dialect.name}`, () => {
    let dir: string;
    let opened: StoreUnderTest;
    let store: Store;
    let failNext: ReturnType<typeof faultyStore>['failNext'];
    let deliver: (hostId: string, event: AgentEvent) => Promise<void>;
    let server: BuiltServer;

    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-effects-'));
      opened = await dialect.open();
      store = opened.store;
      await store.hosts.create({ id: 'host_q', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
      const faulty = faultyStore(store);
      failNext = faulty.failNext;
      const captured = capturingTransport();
      deliver = captured.deliver;
      const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
      await artifacts.init();
      server = buildServer(
        serverConfigSchema.parse({
          data: dir,
          logLevel: 'silent',
          environments: [{ name: 'qa', autoDeploy: true }],
        }),
        { store: faulty.store, artifacts, transport: () => captured.transport },
      );
    });
    afterEach(async () => {
      await server.app.close();
      await opened.close();
      await rm(dir, { recursive: true, force: true });
    });

    /** A deployment of web@`version` to qa, in `state`, with its installs. */
    async function deployment(
      id: string,
      version: number,
      state: 'failed' | 'running',
      installs: Omit<NewInstall, 'app' | 'version' | 'createdBy' | 'deploymentId'>[],
    ): Promise<void> {
      await store.deployments.create(
        {
          id,
          app: 'web',
          version,
          env: 'qa',
          kind: 'auto-deploy',
          strategy: STRATEGY,
          fromVersion: null,
          refreshVars: false,
          createdBy: 'policy:qa/autoDeploy',
          triggeredBy: 'dev',
          state,
        },
        installs.map((i) => ({ ...i, app: 'web', version, createdBy: 'ferry', deploymentId: id })),
        { lock: false },
      );
    }

    it('marks the bundle failed when its QA install failed, though marking failed the first time; once', async () => {
      await deployment('dep_v7', 7, 'failed', [
        { id: 'ins_v7', hostId: 'host_q', purpose: 'deploy', batch: 0, state: 'queued' },
      ]);
      await server.app.ready();

      failNext('verdicts.record');
      // Not acknowledged: the transport delivers it again.
      await expect(deliver('host_q', jobFinished('ins_v7', false))).rejects.toThrow(
        'injected: verdicts.record failed',
      );
      expect((await store.installs.get('ins_v7'))?.state).toBe('failed');
      expect(await store.verdicts.current('web', 7)).toBe('pending');

      // Delivered again: the install's end is recorded already, and its effect runs again.
      await deliver('host_q', jobFinished('ins_v7', false));
      expect(await store.verdicts.current('web', 7)).toBe('failed');
      await deliver('host_q', jobFinished('ins_v7', false));
      const history = await store.verdicts.list('web', 7);
      expect(history).toEqual([
        expect.objectContaining({
          verdict: 'failed',
          by: 'ferry',
          note: 'install failed on qa-1 in qa: the health check failed',
        }),
      ]);

      // A person's verdict after the failure stands against a report delivered late.
      await store.verdicts.record({
        app: 'web',
        version: 7,
        verdict: 'passed',
        note: 'the host was broken, not the bundle',
        by: 'qa',
        at: new Date().toISOString(),
      });
      await deliver('host_q', jobFinished('ins_v7', false));
      expect((await store.verdicts.list('web', 7)).map((v) => v.verdict)).toEqual([
        'passed',
        'failed',
      ]);
    });

    it('completes a partial deployment when its host caught up, though completing failed the first time; once', async () => {
      await deployment('dep_v8', 8, 'running', [
        { id: 'ins_v8', hostId: 'host_q', purpose: 'deploy', batch: 0, state: 'queued' },
      ]);
      // The rollout gave up on the host (it was away) and ended partial, its release desired.
      await store.installs.mark('ins_v8', { state: 'skipped', error: 'qa-1 was offline' }, [
        'queued',
      ]);
      await store.deployments.update(
        'dep_v8',
        { state: 'partial', finishedAt: new Date().toISOString(), error: 'qa-1 was offline' },
        {
          from: ['running'],
          desired: {
            env: 'qa',
            app: 'web',
            version: 8,
            deploymentId: 'dep_v8',
            updatedAt: new Date().toISOString(),
          },
        },
      );
      // It came back, and catches up.
      await store.installs.createMany([
        {
          id: 'ins_catch',
          hostId: 'host_q',
          app: 'web',
          version: 8,
          createdBy: 'ferry (catch-up)',
          deploymentId: 'dep_v8',
          purpose: 'catch-up',
          fromVersion: null,
          state: 'queued',
        },
      ]);
      await server.app.ready();

      const completing = (args: unknown[]) =>
        args[0] === 'dep_v8' && (args[1] as { state?: string }).state === 'succeeded';
      failNext('deployments.update', completing);
      await expect(deliver('host_q', jobFinished('ins_catch', true))).rejects.toThrow(
        'injected: deployments.update failed',
      );
      expect((await store.installs.get('ins_catch'))?.state).toBe('succeeded');
      expect((await store.deployments.get('dep_v8'))?.state).toBe('partial');

      await deliver('host_q', jobFinished('ins_catch', true));
      expect((await store.deployments.get('dep_v8'))?.state).toBe('succeeded');
      await deliver('host_q', jobFinished('ins_catch', true));
      await server.events.idle();
      const changes = (await store.events.list({ after: 0, limit: 1000 })).flatMap((e) =>
        e.kind === 'deployment.state' && e.deploymentId === 'dep_v8' ? [e.data.state] : [],
      );
      expect(changes).toEqual(['succeeded']);
    });
  });
}
