import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  newSigningKey,
  parsePublicKey,
  serverStatement,
  verifyStatement,
} from '../bundle/bundle-signature.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { failure } from '../../test/helpers/failure.js';
import { ServerSigningKey, signingKeyPath } from './signing-key.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-signing-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

const record = {
  app: 'cart',
  sha256: 'a'.repeat(64),
  size: 10,
  label: null,
  commit: null,
  dirty: null,
  fileCount: 1,
  createdAt: '2026-11-01T00:00:00.000Z',
  pushedBy: 'alice',
  manifest: {},
};

describe('the server signing key', () => {
  it('is made 0600 in the data folder on the first start, and the same one after', async () => {
    const first = await ServerSigningKey.load({ data: dir });
    expect(first.made).toBe(true);
    expect((await stat(signingKeyPath(dir))).mode & 0o777).toBe(0o600);
    expect(await readFile(signingKeyPath(dir), 'utf8')).toContain('BEGIN PRIVATE KEY');
    const again = await ServerSigningKey.load({ data: dir });
    expect(again.made).toBe(false);
    expect(again.keyId).toBe(first.keyId);
  });

  it("is the operator's when given, and signs what agents verify", async () => {
    const { privateKeyPem, publicKey } = newSigningKey();
    const key = await ServerSigningKey.load({ data: dir, signingKey: privateKeyPem });
    await expect(stat(signingKeyPath(dir))).rejects.toThrow();
    const bundle = {
      app: 'cart',
      version: 3,
      sha256: 'b'.repeat(64),
      size: 5,
      label: 'x',
      commit: null,
    };
    const signed = key.sign(bundle);
    expect(parsePublicKey(signed.publicKey, 'k').equals(publicKey)).toBe(true);
    expect(verifyStatement(publicKey, serverStatement(bundle), signed.signature)).toBe(true);
    expect((await failure(ServerSigningKey.load({ data: dir, signingKey: 'nope' }))).code).toBe(
      'E_KEY_INVALID',
    );
  });

  it('never signs an unsigned bundle on its own, only when told, and refuses a store another key signed', async () => {
    const store = SqliteStore.open(path.join(dir, 'ferry.db'));
    try {
      await store.migrate();
      await store.bundles.record(record, () => Promise.resolve());
      const key = ServerSigningKey.ephemeral();
      const ref = { app: 'cart', version: 1, sha256: record.sha256 };
      // A row without a signature is what a rewrite of the store leaves: a start reports it.
      expect(await key.prepareStore(store)).toEqual({ signed: [], unsigned: [ref] });
      expect(await key.prepareStore(store)).toEqual({ signed: [], unsigned: [ref] });
      expect((await store.bundles.get('cart', 1))!.signatures).toEqual([]);
      expect(await key.prepareStore(store, { signUnsigned: true })).toEqual({
        signed: [ref],
        unsigned: [],
      });
      expect(await key.prepareStore(store)).toEqual({ signed: [], unsigned: [] });
      const [server] = (await store.bundles.get('cart', 1))!.signatures;
      expect(server).toMatchObject({ by: 'server', keyId: key.keyId });
      const other = await failure(ServerSigningKey.ephemeral().prepareStore(store));
      expect(other.code).toBe('E_SIGNING_KEY_MISMATCH');
      expect(other.message).toContain(key.keyId);
    } finally {
      await store.close();
    }
  });
});
