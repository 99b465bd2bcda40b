import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256File } from '../../bundle/hashing.js';
import { API_PREFIX } from '../../protocol/api.js';
import { StepFailure } from './step-reporter.js';

/**
 * Brings bundles to the host: a cache by sha256 under `<root>/agent/cache`, and
 * downloads that resume where a broken one stopped (HTTP Range).
 */
export class BundleFetcher {
  constructor(
    private readonly cacheDir: string,
    private readonly server: string,
    private readonly token: string,
  ) {}

  /** The cached file of a bundle, fetched first if it is not there. Says what it did. */
  async fetch(
    bundle: { app: string; version: number; sha256: string; size: number },
    say: (line: string) => void,
  ): Promise<string> {
    await mkdir(this.cacheDir, { recursive: true });
    const file = path.join(this.cacheDir, `${bundle.sha256}.tar.gz`);
    if (await exists(file)) {
      say(`cached: ${file}\n`);
      return file;
    }
    const partial = `${file}.partial`;
    const have = (await stat(partial).catch(() => undefined))?.size ?? 0;
    const url = `${this.server}${API_PREFIX}/apps/${bundle.app}/bundles/${bundle.version}/download`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (have > 0 && have < bundle.size) headers.range = `bytes=${have}-`;
    say(`GET ${url}${headers.range ? ` (resuming at byte ${have})` : ''}\n`);
    let response: Response;
    try {
      response = await fetch(url, { headers });
    } catch (err) {
      throw new StepFailure(`cannot reach ${this.server}: ${(err as Error).message}`);
    }
    if (response.status !== 200 && response.status !== 206) {
      throw new StepFailure(`download refused: HTTP ${response.status} ${await response.text()}`);
    }
    if (!response.body) throw new StepFailure('download has no body');
    const append = response.status === 206;
    await pipeline(
      Readable.fromWeb(response.body),
      createWriteStream(partial, { flags: append ? 'a' : 'w' }),
    );
    const size = (await stat(partial)).size;
    say(`downloaded ${size} bytes${append ? ` (${have} were already here)` : ''}\n`);
    await rename(partial, file);
    return file;
  }

  /** Checks a cached bundle's sha256; a file that does not match is removed. */
  async verify(file: string, sha256: string, say: (line: string) => void): Promise<void> {
    const actual = await sha256File(file);
    if (actual !== sha256) {
      await rm(file, { force: true });
      throw new StepFailure(
        `sha256 ${actual} is not the expected ${sha256}; the cached file was removed`,
      );
    }
    say(`sha256 ${actual} ok\n`);
  }
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}
