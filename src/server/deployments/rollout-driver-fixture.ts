import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BundleDetail } from '../../protocol/api.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';

/**
 * What the rollout driver's tests share: a store of their own, the bundle
 * they roll out (web@2, with migrations), a wait, and a rollout of hosts
 * ready to go.
 *
 * @example
 *   const opened = await openDriverStore();
 *   await pendingRollout(opened.store, ['a', 'b'], 1);
 *   await opened.close();
 */
export async function openDriverStore(): Promise<{ store: SqliteStore; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-rollout-driver-'));
  const store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  return {
    store,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const BUNDLE = {
  app: 'web',
  version: 2,
  manifest: { role: 'web', migrate: ['node migrate.js'] },
} as unknown as BundleDetail;

export async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** web@2's deployment to prod, running, its installs pending: host `n` is prod-`n`, connected. */
export async function pendingRollout(
  store: SqliteStore,
  ids: string[],
  batch: number | string,
  batchOf: (index: number) => number = () => 0,
): Promise<void> {
  const at = new Date().toISOString();
  for (const n of ids) {
    await store.hosts.create({
      id: `host_${n}`,
      name: `prod-${n}`,
      env: 'prod',
      roles: ['web'],
      vars: {},
    });
    await store.hosts.setPresence(`host_${n}`, true, at);
  }
  await store.deployments.create(
    {
      id: 'dep_web',
      app: 'web',
      version: 2,
      env: 'prod',
      kind: 'deploy',
      strategy: { batch, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1m' },
      fromVersion: 1,
      createdBy: 'admin',
      state: 'running',
    },
    ids.map((n, index) => ({
      id: `ins_${n}`,
      hostId: `host_${n}`,
      app: 'web',
      version: 2,
      createdBy: 'admin',
      deploymentId: 'dep_web',
      purpose: 'deploy' as const,
      batch: batchOf(index),
      fromVersion: 1,
      state: 'pending' as const,
    })),
    { lock: true },
  );
}
