import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reportSchema } from '../../protocol/report-api.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { environmentsSchema } from '../environment-config.js';
import { REPORT_FILE_FORMATS } from './report-file-formats.js';
import { ReportFiles } from './report-files.js';
import { ReportService } from './report-service.js';

/**
 * The report files on a real SQLite store and a real folder: a deployment to
 * the last environment that ended with no report written (its replica died)
 * gets one from the sweep, recorded once however often the sweep runs; one
 * to another environment, or still going, gets none.
 */

let dir: string;
let store: Store;
const errors: unknown[] = [];
const logger = {
  info: () => undefined,
  error: (obj: unknown) => errors.push(obj),
} as unknown as FastifyBaseLogger;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-report-files-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  errors.length = 0;
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function seed(): Promise<void> {
  await store.environments.sync(['qa', 'prod']);
  await store.bundles.record(
    {
      app: 'cart',
      sha256: 'a'.repeat(64),
      size: 10,
      label: '0.4.0',
      commit: null,
      dirty: null,
      fileCount: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
      pushedBy: 'dev',
      manifest: { role: 'cart' },
    },
    () => Promise.resolve(),
  );
  await store.hosts.create({ id: 'h1', name: 'prod-1', env: 'prod', roles: ['cart'], vars: {} });
  const strategy = { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' };
  for (const [id, env, state] of [
    ['dep_qa', 'qa', 'succeeded'],
    ['dep_prod', 'prod', 'succeeded'],
    ['dep_going', 'prod', 'running'],
  ] as const) {
    await store.deployments.create(
      {
        id,
        app: 'cart',
        version: 1,
        env,
        kind: 'deploy',
        state: 'running',
        strategy,
        fromVersion: null,
        createdBy: 'dev',
      },
      [],
      { lock: false },
    );
    if (state !== 'running')
      await store.deployments.update(id, { state, finishedAt: new Date().toISOString() });
  }
}

function files(): ReportFiles {
  const environments = environmentsSchema.parse([{ name: 'qa' }, { name: 'prod' }]);
  return new ReportFiles(store, new ReportService(store, environments), {
    dir: path.join(dir, 'reports'),
    lastEnv: 'prod',
    formats: REPORT_FILE_FORMATS,
    logger,
  });
}

describe('ReportFiles', () => {
  it('writes the reports a replica did not, once, for ended deployments to the last environment only', async () => {
    await seed();
    await files().writeMissing();
    expect(errors).toEqual([]);
    expect((await readdir(path.join(dir, 'reports'))).sort()).toEqual([
      'cart@1.html',
      'cart@1.json',
      'cart@1.md',
    ]);
    const file = path.join(dir, 'reports', 'cart@1.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const report = reportSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    expect(report.subject).toEqual({ kind: 'bundle', app: 'cart', version: 1 });
    const recorded = async () =>
      (await store.history.list({ type: 'report', limit: 100 })).map((e) => e.deploymentId);
    expect(await recorded()).toEqual(['dep_prod']);

    // A second sweep, and a late effect of the same end: one line of history.
    await files().writeMissing();
    await files().deploymentChanged({
      id: 'dep_prod',
      app: 'cart',
      version: 1,
      env: 'prod',
      state: 'succeeded',
    });
    expect(await recorded()).toEqual(['dep_prod']);
  });

  it('writes nothing for a deployment that is still going or is not in the last environment', async () => {
    await seed();
    const writer = files();
    await writer.deploymentChanged({
      id: 'dep_going',
      app: 'cart',
      version: 1,
      env: 'prod',
      state: 'running',
    });
    await writer.deploymentChanged({
      id: 'dep_qa',
      app: 'cart',
      version: 1,
      env: 'qa',
      state: 'succeeded',
    });
    await expect(readdir(path.join(dir, 'reports'))).rejects.toThrow(/ENOENT/);
    expect(await store.history.list({ type: 'report', limit: 100 })).toEqual([]);
  });

  it('leaves no temp file and records nothing when a file cannot be written, and logs it', async () => {
    await seed();
    const writer = new ReportFiles(
      store,
      new ReportService(store, environmentsSchema.parse([{ name: 'prod' }])),
      {
        dir: path.join(dir, 'reports'),
        lastEnv: 'prod',
        formats: {
          json: () => {
            throw new Error('disk on fire');
          },
        },
        logger,
      },
    );
    await writer.writeMissing();
    expect(errors).toHaveLength(1);
    expect(await readdir(path.join(dir, 'reports'))).toEqual([]);
    expect(await store.history.list({ type: 'report', limit: 100 })).toEqual([]);
  });
});
