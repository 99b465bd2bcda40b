import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { appTree, makeTree } from '../../test/helpers/source-tree.js';
import { DEFAULT_BUNDLE_LIMITS } from '../bundle/inspect-bundle.js';
import { createBundle } from '../bundle/pack.js';
import { UploadSink } from './bundle-service.js';
import { Inspection, RING_SLOTS, SLOT_BYTES } from './inspector-pool.js';

// The checker thread as the server runs it: the build's worker (a worker thread
// cannot load the TypeScript source). `npx tsc -p tsconfig.build.json` first.
const workerFile = fileURLToPath(new URL('../../dist/server/inspect-worker.js', import.meta.url));
const threads: Worker[] = [];

afterAll(async () => {
  await Promise.all(threads.map((thread) => thread.terminate()));
});

/**
 * A file that takes its time: each write is copied out of the caller's memory
 * only when its callback runs, a while later, as a slow disk would. A slot the
 * sink fills again before that callback shows up here as wrong bytes.
 */
class SlowFile extends Writable {
  readonly parts: Buffer[] = [];

  constructor() {
    super({ highWaterMark: SLOT_BYTES });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    setTimeout(() => {
      this.parts.push(Buffer.from(chunk));
      callback();
    }, 15);
  }
}

describe('UploadSink', () => {
  it('fills a slot again only once the file has its bytes too, however long the file takes', async () => {
    const root = await makeTree({
      ...appTree('slow', 'v1'),
      // Incompressible: the upload goes round the ring a few times, and ends mid-slot.
      'assets/a.bin': randomBytes((RING_SLOTS + 7) * SLOT_BYTES + 12_345),
    });
    const created = await createBundle({
      sourceDir: root,
      out: path.join(root, '..', `${path.basename(root)}.tar.gz`),
    });
    const body = await readFile(created.file);
    expect(body.length).toBeGreaterThan(2 * RING_SLOTS * SLOT_BYTES);

    const thread = new Worker(workerFile);
    threads.push(thread);
    const inspection = new Inspection({ thread, crashed: false }, 1, DEFAULT_BUNDLE_LIMITS);
    const file = new SlowFile();
    const sink = new UploadSink(inspection, file, body.length);
    // The pieces a TLS socket hands over: 16 KiB at most.
    const pieces = Array.from({ length: Math.ceil(body.length / 16_384) }, (_, i) =>
      body.subarray(i * 16_384, (i + 1) * 16_384),
    );
    Readable.from(pieces).pipe(sink);
    const [, inspected] = await Promise.all([finished(sink), inspection.result]);

    expect(inspected.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(sink.bytes).toBe(body.length);
    const stored = Buffer.concat(file.parts);
    expect(stored.length).toBe(body.length);
    expect(stored.equals(body)).toBe(true);
  });
});
