import { mkdir, readFile, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../bundle/hashing.js';
import { AgentClient } from '../../client/agent-client.js';
import { ApiError, type FerryClientOptions } from '../../client/route-client.js';
import { downloadBundleAttempt } from '../../client/node-transfers.js';
import { FerryError } from '../../protocol/errors.js';
import { StepFailure } from './step-reporter.js';

/**
 * A bundle file on the host, with the sha256 of its bytes as they were written
 * (downloaded) or read (taken from the cache): computed once, checked by
 * `verify` without reading the file again.
 */
export interface FetchedBundle {
  file: string;
  sha256: string;
}

/**
 * Brings bundles to the host: a cache by sha256 under `<root>/agent/cache`, and
 * downloads that resume where a broken one stopped (HTTP Range). Each byte is
 * hashed once, as it is downloaded (a resumed download hashes the bytes it
 * already had first).
 */
export class BundleFetcher {
  private readonly client: AgentClient;

  constructor(
    private readonly cacheDir: string,
    private readonly server: string,
    /** The host's credential, read at each request: it rotates. */
    token: string | (() => string),
    private readonly retry: FetchRetry = DEFAULT_FETCH_RETRY,
    /** How the server is verified (the pinned CA): `ServerTrust.clientOptions()`. */
    clientOptions: FerryClientOptions = {},
  ) {
    this.client = new AgentClient(server, token, clientOptions);
  }

  /**
   * One attempt: GET the bundle (from the partial file's end, if any) into the
   * partial file. A server that cannot be reached, answers 5xx, or breaks off
   * the body is a reason to try again; anything else throws.
   */
  private async download(
    bundle: { app: string; version: number; size: number },
    partial: string,
    say: (line: string) => void,
  ): Promise<{ ok: true; append: boolean; sha256: string } | { ok: false; reason: string }> {
    const have = (await stat(partial).catch(() => undefined))?.size ?? 0;
    const resumeFrom = have > 0 && have < bundle.size ? have : 0;
    const address = { app: bundle.app, version: bundle.version };
    const url = this.client.url('downloadBundle', { params: address });
    say(`GET ${url}${resumeFrom > 0 ? ` (resuming at byte ${have})` : ''}\n`);
    try {
      const got = await downloadBundleAttempt(this.client, address, partial, {
        resumeFrom,
        hashResumed: true,
      });
      return { ok: true, append: got.appended, sha256: got.received };
    } catch (err) {
      if (err instanceof ApiError) {
        const reason = `HTTP ${err.httpStatus} ${err.code}: ${err.message}`;
        if (err.httpStatus >= 500) return { ok: false, reason };
        throw new StepFailure(`download refused: ${reason}`);
      }
      if (err instanceof FerryError) {
        if (err.code === 'E_SERVER_UNREACHABLE') return { ok: false, reason: err.message };
        throw new StepFailure(`download failed: ${err.message}`);
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        // The partial file is what filled the disk: it goes, so the host can go on.
        const written = (await stat(partial).catch(() => undefined))?.size ?? 0;
        await rm(partial, { force: true });
        const free = await freeBytes(this.cacheDir);
        throw new StepFailure(
          `The disk is full: ${await diskOf(this.cacheDir)} (the disk of ${this.cacheDir}) ran out of space ` +
            `after ${megabytes(written)} of ${bundle.app}@${bundle.version} (${megabytes(bundle.size)}); ` +
            `the partial download was removed, ${free === null ? 'an unknown amount' : megabytes(free)} free now`,
        );
      }
      // The connection broke mid-body: what came is kept, the next try resumes from it.
      return { ok: false, reason: `the download broke off: ${describeFetchError(err)}` };
    }
  }

  /**
   * The cached file of a bundle, fetched first if it is not there, with the
   * sha256 of its bytes. Says what it did.
   *
   * A file taken from the cache is hashed once here: it was named by the
   * sha256 it should have, not necessarily the one it has (an agent before
   * this one renamed a download before checking it, a disk can rot), and the
   * one read costs ~10 ms for 20 MB on the rare install that finds its bundle
   * cached (a retry after a failed one).
   */
  async fetch(
    bundle: { app: string; version: number; sha256: string; size: number },
    say: (line: string) => void,
  ): Promise<FetchedBundle> {
    await mkdir(this.cacheDir, { recursive: true });
    const file = path.join(this.cacheDir, `${bundle.sha256}.tar.gz`);
    if (await exists(file)) {
      say(`cached: ${file}\n`);
      return { file, sha256: await sha256File(file) };
    }
    const partial = `${file}.partial`;
    let have = (await stat(partial).catch(() => undefined))?.size ?? 0;
    if (have > bundle.size) {
      await rm(partial, { force: true });
      have = 0;
    }
    // Refused before a byte is written: a download that cannot fit would only
    // fill the disk, and the journal and every other job with it.
    const free = await freeBytes(this.cacheDir);
    if (free !== null && free < bundle.size - have) {
      await rm(partial, { force: true });
      const freed = have > 0 ? ((await freeBytes(this.cacheDir)) ?? free) : free;
      if (freed < bundle.size) {
        throw new StepFailure(
          `Not enough disk space for ${bundle.app}@${bundle.version} (${megabytes(bundle.size)}): ` +
            `${megabytes(freed)} free on ${await diskOf(this.cacheDir)} (the disk of ${this.cacheDir})`,
        );
      }
      have = 0;
    }
    // A server that restarts (or a replica that goes away behind a balancer)
    // is unreachable for a few seconds: the download waits for it, with
    // backoff and within a bound, resuming from the bytes it already has,
    // instead of failing the install at once.
    const deadline = Date.now() + this.retry.budgetMs;
    let delay = this.retry.firstDelayMs;
    const since = Date.now();
    let append = false;
    let sha256: string;
    for (let attempt = 1; ; attempt++) {
      const got = await this.download(bundle, partial, say);
      if (got.ok) {
        append = got.append;
        sha256 = got.sha256;
        break;
      }
      if (Date.now() + delay > deadline) {
        throw new StepFailure(
          `cannot reach ${this.server}: ${got.reason} (tried ${attempt} time${attempt === 1 ? '' : 's'} over ${Math.round((Date.now() - since) / 1000)} s)`,
        );
      }
      say(`${got.reason}; trying again in ${(delay / 1000).toFixed(1)} s\n`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, this.retry.maxDelayMs);
    }
    const size = (await stat(partial)).size;
    say(`downloaded ${size} bytes${append && have > 0 ? ` (${have} were already here)` : ''}\n`);
    await rename(partial, file);
    return { file, sha256 };
  }

  /**
   * Checks a fetched bundle's sha256 (as `fetch` computed it: the file is not
   * read again) against the expected one; a file that does not match is removed.
   */
  async verify(fetched: FetchedBundle, sha256: string, say: (line: string) => void): Promise<void> {
    const actual = fetched.sha256;
    if (actual !== sha256) {
      await rm(fetched.file, { force: true });
      throw new StepFailure(
        `sha256 ${actual} is not the expected ${sha256}; the cached file was removed`,
      );
    }
    say(`sha256 ${actual} ok\n`);
  }
  /**
   * Removes cached bundles (and partial downloads) whose sha256 is not in
   * `keep`: a release still on the host is switched back to without its bundle,
   * so the cache needs no more than what `keepReleases` keeps.
   */
  async prune(keep: Set<string>, say: (line: string) => void): Promise<void> {
    for (const entry of await readdir(this.cacheDir).catch(() => [])) {
      const match = /^([0-9a-f]{64})\.tar\.gz(\.partial)?$/.exec(entry);
      if (!match || keep.has(match[1]!)) continue;
      await rm(path.join(this.cacheDir, entry), { force: true });
      say(`removed cache/${entry}\n`);
    }
  }
}

/** How long a download waits for a server it cannot reach. */
export interface FetchRetry {
  /** The whole wait, across every attempt. */
  budgetMs: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

/** Long enough for a server restart (or a replica's failover), short enough that a server gone for good fails the install. */
export const DEFAULT_FETCH_RETRY: FetchRetry = {
  budgetMs: 60_000,
  firstDelayMs: 250,
  maxDelayMs: 5_000,
};

/** `fetch failed` says little: its cause (ECONNREFUSED, ECONNRESET, ...) says what happened. */
function describeFetchError(err: unknown): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  const cause = error.cause;
  if (cause?.code) return `${error.message} (${cause.code})`;
  if (cause?.message) return `${error.message} (${cause.message})`;
  return error.message;
}

/** Bytes free for this process on the file system of `dir`, or null when it cannot be told. */
async function freeBytes(dir: string): Promise<number | null> {
  try {
    const info = await statfs(dir);
    return info.bavail * info.bsize;
  } catch {
    return null;
  }
}

/** The mount point `dir` is on (from /proc/self/mounts), to name the disk in a message. */
async function diskOf(dir: string): Promise<string> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  let best = '';
  for (const line of mounts.split('\n')) {
    const mountPoint = line.split(' ')[1]?.replace(/\\040/g, ' ');
    if (mountPoint === undefined) continue;
    const inside = mountPoint === '/' || dir === mountPoint || dir.startsWith(`${mountPoint}/`);
    if (inside && mountPoint.length > best.length) best = mountPoint;
  }
  return best === '' ? dir : best;
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}
