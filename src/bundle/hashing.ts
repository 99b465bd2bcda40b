import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';

/** The sha256 of a file, in hex, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  return (await hashFile(file)).digest('hex');
}

/**
 * A sha256 hash that has taken in the file's first `bytes` bytes (all of it
 * when not given), still open for more: a resumed download goes on from it.
 */
export async function hashFile(file: string, bytes?: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (bytes === 0) return hash;
  const range = bytes === undefined ? {} : { start: 0, end: bytes - 1 };
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, ...range })) {
    hash.update(chunk as Buffer);
  }
  return hash;
}

/**
 * A pass-through stream that hashes and counts what flows through it, and can stop
 * the flow past a byte limit.
 *
 * @example
 *   const meter = new HashingMeter({ limit: 1e9 });
 *   await pipeline(source, meter, destination);
 *   meter.sha256(); meter.bytes;
 */
export class HashingMeter extends Transform {
  bytes = 0;
  private hash: Hash = createHash('sha256');
  private digest: string | undefined;

  constructor(
    private readonly options: {
      limit?: number;
      onLimit?: (limit: number) => Error;
      onProgress?: (bytes: number) => void;
      /**
       * A hash that already holds the bytes before these (a resumed download's
       * partial file); or false: counts and limits only, for bytes another
       * thread hashes (`sha256()` then throws).
       */
      hash?: Hash | false;
    } = {},
  ) {
    super();
    if (options.hash) this.hash = options.hash;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { limit, onLimit } = this.options;
    if (limit !== undefined && this.bytes > limit) {
      callback(onLimit ? onLimit(limit) : new RangeError(`more than ${limit} bytes`));
      return;
    }
    if (this.options.hash !== false) this.hash.update(chunk);
    this.options.onProgress?.(this.bytes);
    callback(null, chunk);
  }

  /** The hex sha256 of everything that passed; only once the stream has ended. */
  sha256(): string {
    if (this.options.hash === false) throw new Error('this meter does not hash');
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}
