import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The sha256 of a file, in hex, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
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
  private readonly hash: Hash = createHash('sha256');
  private digest: string | undefined;

  constructor(
    private readonly options: {
      limit?: number;
      onLimit?: (limit: number) => Error;
      onProgress?: (bytes: number) => void;
      /** False: counts and limits only, for bytes another thread hashes (`sha256()` then throws). */
      hash?: boolean;
    } = {},
  ) {
    super();
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
