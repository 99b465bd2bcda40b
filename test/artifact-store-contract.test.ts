import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore, ArtifactUpload } from '../src/artifacts/artifact-store.js';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';

/**
 * One contract for every ArtifactStore: what goes in comes out whole or in
 * ranges, under its sha256; an upload not committed is never visible; two
 * uploads of the same bundle at once leave it whole. Each adapter runs it
 * against its real medium (the fs adapter: a real folder).
 */

interface StoreSetup {
  name: string;
  /** A fresh, initialised store, and how to remove what it holds. */
  make(): Promise<{ store: ArtifactStore; cleanup: () => Promise<void> }>;
}

const ADAPTERS: StoreSetup[] = [
  {
    name: 'fs (a folder)',
    async make() {
      const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-artifacts-'));
      const store = new FsArtifactStore(root);
      await store.init();
      return { store, cleanup: () => rm(root, { recursive: true, force: true }) };
    },
  },
];

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `bytes` to an upload, in pieces, and waits until they are written. */
async function write(upload: ArtifactUpload, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += 64 * 1024) {
    if (!upload.stream.write(bytes.subarray(at, at + 64 * 1024))) {
      await new Promise((resolve) => upload.stream.once('drain', resolve));
    }
  }
  upload.stream.end();
  await finished(upload.stream);
}

/** Puts bytes in the store, as the server does with a push: upload, then commit under their hash. */
async function put(store: ArtifactStore, bytes: Buffer): Promise<string> {
  const upload = await store.beginUpload();
  await write(upload, bytes);
  const key = sha256(bytes);
  await upload.commit(key);
  return key;
}

for (const adapter of ADAPTERS) {
  describe(`ArtifactStore contract: ${adapter.name}`, () => {
    let store: ArtifactStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await adapter.make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it('gives back what was put, whole, with its size', async () => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const key = await put(store, bytes);
      expect(await store.size(key)).toBe(bytes.length);
      expect((await readAll(store.read(key))).equals(bytes)).toBe(true);
    });

    it('reads inclusive ranges: the first byte, a middle span, the last byte', async () => {
      const bytes = randomBytes(100_000);
      const key = await put(store, bytes);
      for (const [start, end] of [
        [0, 0],
        [1000, 54_321],
        [99_999, 99_999],
        [0, 99_999],
      ] as const) {
        const got = await readAll(store.read(key, { start, end }));
        expect(got.equals(bytes.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
    });

    it('says whether an artifact exists, and an absent one cannot be read', async () => {
      const absent = sha256(Buffer.from('never put'));
      expect(await store.size(absent)).toBeUndefined();
      await expect(readAll(store.read(absent))).rejects.toThrow();
      const key = await put(store, Buffer.from('here'));
      expect(await store.size(key)).toBe(4);
    });

    it('deletes an artifact, and deleting an absent one is fine', async () => {
      const key = await put(store, randomBytes(1000));
      await store.delete(key);
      expect(await store.size(key)).toBeUndefined();
      await expect(readAll(store.read(key))).rejects.toThrow();
      await store.delete(key);
      // Put again after a delete, it is whole again.
      const bytes = randomBytes(1000);
      const again = await put(store, bytes);
      expect((await readAll(store.read(again))).equals(bytes)).toBe(true);
    });

    it('never shows an upload that is not committed: not while written, not once discarded', async () => {
      const bytes = randomBytes(256 * 1024);
      const key = sha256(bytes);
      const upload = await store.beginUpload();
      // Half of it written, and flushed: still nothing under its key.
      await new Promise<void>((resolve, reject) =>
        upload.stream.write(bytes.subarray(0, bytes.length / 2), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      expect(await store.size(key)).toBeUndefined();
      // The writer dies mid-upload (the server's pipeline listens for the error; so does this).
      const failed = new Promise((resolve) => upload.stream.once('error', resolve));
      upload.stream.destroy(new Error('connection lost'));
      await failed;
      await upload.discard();
      expect(await store.size(key)).toBeUndefined();
      await expect(readAll(store.read(key))).rejects.toThrow();
      // A later whole upload of the same bytes is the one that counts.
      expect(await put(store, bytes)).toBe(key);
      expect((await readAll(store.read(key))).equals(bytes)).toBe(true);
      // Discarding after the fact is safe, as the interface says.
      await upload.discard();
      expect(await store.size(key)).toBe(bytes.length);
    });

    it('keeps one whole artifact when the same bytes are put twice at once', async () => {
      const bytes = randomBytes(2 * 1024 * 1024);
      const key = sha256(bytes);
      const uploads = await Promise.all([store.beginUpload(), store.beginUpload()]);
      await Promise.all(uploads.map((upload) => write(upload, bytes)));
      await Promise.all(uploads.map((upload) => upload.commit(key)));
      expect(await store.size(key)).toBe(bytes.length);
      expect(sha256(await readAll(store.read(key)))).toBe(key);
      // Committed again (a retried push): still one whole artifact.
      const third = await store.beginUpload();
      await write(third, bytes);
      await third.commit(key);
      expect(sha256(await readAll(store.read(key)))).toBe(key);
    });

    it('lets a reader that has begun finish while the same artifact is put again', async () => {
      const bytes = randomBytes(4 * 1024 * 1024);
      const key = await put(store, bytes);
      const reading = readAll(store.read(key));
      await put(store, bytes);
      expect(sha256(await reading)).toBe(key);
    });
  });
}
