import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Role } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { FsArtifactStore } from '../artifacts/fs/fs-artifact-store.js';
import { BundleService } from './bundle-service.js';
import { DeveloperKeys } from './developer-keys.js';
import { ServerSigningKey } from './signing-key.js';
import { InspectorPool } from './inspector-pool.js';
import { liveHosts, requireVerdict, VerdictService } from './verdict-service.js';
import { failure } from '../../test/helpers/failure.js';
import { parseHostFacts } from '../protocol/host-facts.js';

let dir: string;
let store: SqliteStore;
let inspectors: InspectorPool;
let verdicts: VerdictService;
let now: Date;

const qa = { name: 'alice', role: 'qa' as Role };

async function pushBundle(app: string, sha256: string): Promise<number> {
  const { bundle } = await store.bundles.record(
    {
      app,
      sha256,
      size: 1,
      label: null,
      commit: null,
      dirty: null,
      fileCount: 1,
      createdAt: new Date().toISOString(),
      pushedBy: 'dev',
      manifest: { role: app },
    },
    () => Promise.resolve(),
  );
  return bundle.version;
}

async function hostRunning(name: string, env: string, apps: Record<string, unknown>) {
  const host = await store.hosts.create({
    id: `host_${name}`,
    name,
    env,
    roles: ['web'],
    vars: {},
  });
  await store.hosts.setFacts(
    host.id,
    parseHostFacts({ os: 'Linux', apps }),
    new Date().toISOString(),
  );
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-verdicts-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  // No pushes go through this service here, so it needs no checker threads.
  inspectors = new InspectorPool(0);
  const bundles = new BundleService(
    store,
    new FsArtifactStore(path.join(dir, 'artifacts')),
    { maxFiles: 10, maxUnpackedBytes: 1000, maxBundleBytes: 1000, uploadIdleSeconds: 5 },
    inspectors,
    { key: ServerSigningKey.ephemeral(), developers: new DeveloperKeys({}) },
  );
  now = new Date('2026-05-01T10:00:00.000Z');
  verdicts = new VerdictService(store, bundles, () => now);
});
afterEach(async () => {
  await inspectors.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('VerdictService', () => {
  it('records each change with who, when and the note, and knows the one before', async () => {
    const version = await pushBundle('cart', 'a'.repeat(64));
    expect(await verdicts.verdictOf('cart', version)).toBe('pending');

    const first = await verdicts.mark(qa, 'cart', version, 'passed', 'checkout OK');
    expect(first).toEqual({
      bundle: `cart@${version}`,
      verdict: 'passed',
      previous: 'pending',
      by: 'alice',
      at: '2026-05-01T10:00:00.000Z',
      note: 'checkout OK',
      liveOn: [],
      liveIn: [],
      deployments: [],
    });

    // The same verdict again is still a change worth keeping: it carries a new note.
    now = new Date('2026-05-01T11:00:00.000Z');
    const again = await verdicts.mark(qa, 'cart', version, 'passed', 'refunds OK too');
    expect(again.previous).toBe('passed');

    now = new Date('2026-05-01T12:00:00.000Z');
    const failed = await verdicts.mark(
      { name: 'root', role: 'admin' },
      'cart',
      version,
      'failed',
      null,
    );
    expect(failed).toMatchObject({ previous: 'passed', verdict: 'failed', note: null, by: 'root' });

    expect(await verdicts.verdictOf('cart', version)).toBe('failed');
    expect(await verdicts.history('cart', version)).toEqual([
      {
        app: 'cart',
        version,
        verdict: 'failed',
        note: null,
        by: 'root',
        at: '2026-05-01T12:00:00.000Z',
      },
      {
        app: 'cart',
        version,
        verdict: 'passed',
        note: 'refunds OK too',
        by: 'alice',
        at: '2026-05-01T11:00:00.000Z',
      },
      {
        app: 'cart',
        version,
        verdict: 'passed',
        note: 'checkout OK',
        by: 'alice',
        at: '2026-05-01T10:00:00.000Z',
      },
    ]);
  });

  it('orders changes made in the same millisecond by when they were recorded', async () => {
    const version = await pushBundle('cart', 'b'.repeat(64));
    await verdicts.mark(qa, 'cart', version, 'passed', 'one');
    await verdicts.mark(qa, 'cart', version, 'failed', 'two');
    expect((await verdicts.history('cart', version)).map((v) => v.note)).toEqual(['two', 'one']);
    expect(await verdicts.verdictOf('cart', version)).toBe('failed');
  });

  it('keeps the verdicts of each bundle apart', async () => {
    const one = await pushBundle('cart', 'c'.repeat(64));
    const two = await pushBundle('cart', 'd'.repeat(64));
    await verdicts.mark(qa, 'cart', one, 'failed', null);
    expect(await verdicts.verdictOf('cart', two)).toBe('pending');
    expect(await verdicts.history('cart', two)).toEqual([]);
  });

  it('lets only qa and admin tokens mark, naming both roles', async () => {
    const version = await pushBundle('cart', 'e'.repeat(64));
    const refused = await failure(
      verdicts.mark({ name: 'dev', role: 'deployer' }, 'cart', version, 'passed', null),
    );
    expect(refused.code).toBe('E_FORBIDDEN');
    expect(refused.status).toBe(403);
    expect(refused.message).toContain('qa or admin');
    expect(await verdicts.history('cart', version)).toEqual([]);
  });

  it('refuses a bundle that does not exist', async () => {
    await pushBundle('cart', 'f'.repeat(64));
    const missing = await failure(verdicts.mark(qa, 'cart', 99, 'passed', null));
    expect(missing.code).toBe('E_BUNDLE_NOT_FOUND');
    expect((await failure(verdicts.history('cart', 99))).code).toBe('E_BUNDLE_NOT_FOUND');
  });

  it('says where the bundle is live, from the facts hosts reported', async () => {
    const version = await pushBundle('cart', '1'.repeat(64));
    await hostRunning('qa-2', 'qa', {
      cart: { current: version, previous: null, releases: [version] },
    });
    await hostRunning('qa-1', 'qa', {
      cart: { current: version, previous: null, releases: [version] },
    });
    await hostRunning('prod-1', 'prod', {
      cart: { current: version - 1, previous: null, releases: [] },
    });
    await hostRunning('qa-3', 'qa', { other: { current: version } });
    await store.hosts.create({ id: 'host_new', name: 'new-1', env: 'qa', roles: [], vars: {} });

    const result = await verdicts.mark(qa, 'cart', version, 'failed', 'totals wrong');
    expect(result.liveOn).toEqual([
      { host: 'qa-1', env: 'qa' },
      { host: 'qa-2', env: 'qa' },
    ]);
  });
});

describe('liveHosts', () => {
  it('ignores hosts with no facts, without the app, or on another version', () => {
    const base = {
      id: 'h',
      env: 'qa',
      roles: [],
      vars: {},
      enrolledAt: '',
      lastSeenAt: null,
      connected: true,
      revokedAt: null,
    };
    expect(
      liveHosts(
        [
          { ...base, name: 'a', facts: null },
          { ...base, name: 'b', facts: parseHostFacts({ apps: { web: { current: 3 } } }) },
          { ...base, name: 'c', facts: parseHostFacts({ apps: { cart: { current: 2 } } }) },
          { ...base, name: 'd', facts: parseHostFacts({ apps: { cart: { current: 3 } } }) },
        ],
        'cart',
        3,
      ),
    ).toEqual([{ host: 'd', env: 'qa' }]);
  });
});

describe('requireVerdict', () => {
  it('lets a bundle in when it has the verdict the environment needs, or none is needed', () => {
    expect(() => requireVerdict('passed', 'passed', 'prod', 'cart@12')).not.toThrow();
    expect(() => requireVerdict('pending', null, 'qa', 'cart@12')).not.toThrow();
    expect(() => requireVerdict('failed', null, 'dev', 'cart@12')).not.toThrow();
  });

  it.each(['pending', 'failed'] as const)(
    'refuses a %s bundle with E_VERDICT_REQUIRED naming both verdicts',
    (has) => {
      let error: unknown;
      try {
        requireVerdict(has, 'passed', 'prod', 'cart@12');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(FerryError);
      const refused = error as FerryError;
      expect(refused.code).toBe('E_VERDICT_REQUIRED');
      expect(refused.status).toBe(409);
      expect(refused.message).toBe(
        `cart@12 is ${has}; the prod environment takes only bundles marked passed`,
      );
      expect(refused.details).toEqual({ bundle: 'cart@12', env: 'prod', has, needs: 'passed' });
    },
  );
});
