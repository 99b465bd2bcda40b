import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Pack } from 'tar-stream';
import { labelSchema } from '../protocol/fields.js';
import { FerryError } from '../protocol/errors.js';
import {
  BUNDLE_FORMAT,
  BUNDLE_META_FILE,
  type BundleFile,
  type BundleMeta,
} from './bundle-meta.js';
import { readGitInfo } from './git-info.js';
import { HashingMeter, sha256File } from './hashing.js';
import { loadManifest, selectApp } from './manifest.js';
import { listSourceFiles, type SourceEntry } from './source-files.js';

/** A tar entry's header, as tar-stream takes it. */
type EntryHeader = Parameters<Pack['entry']>[0];

/** Every entry of a bundle carries this time, owner and group, so archives are reproducible. */
const FIXED_HEADER = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' } as const;

/** What `createBundle` reports while it works. */
export interface BundleProgress {
  phase: 'scan' | 'hash' | 'write';
  done: number;
  total: number;
}

export interface CreateBundleOptions {
  /** The source tree: the folder holding `ferry.yml`. */
  sourceDir: string;
  /** Which app of the manifest; may be left out when it defines only one. */
  app?: string | undefined;
  label?: string | null | undefined;
  /** Where to write the archive; by default `<app>[-<label>].tar.gz` in the working folder. */
  out?: string | undefined;
  onProgress?: (progress: BundleProgress) => void;
  /** Entries that could not go in (sockets, FIFOs) are reported here. */
  onSkipped?: (entry: { path: string; reason: string }) => void;
}

/** A bundle written to disk. */
export interface CreatedBundle {
  file: string;
  size: number;
  sha256: string;
  meta: BundleMeta;
}

/**
 * Makes a bundle of one app: a gzipped tar whose first entry is `ferry-bundle.json`,
 * followed by the app's files in path order, every header with a fixed time and
 * owner — the same tree always gives the same bytes.
 *
 * `createdAt` is part of those bytes, so it is not the wall clock: it is
 * `SOURCE_DATE_EPOCH` when set, else the commit time of a clean git tree, else the
 * newest modification time among the bundled files.
 */
export async function createBundle(options: CreateBundleOptions): Promise<CreatedBundle> {
  const { sourceDir, onProgress } = options;
  if (options.label !== undefined && options.label !== null) {
    const label = labelSchema.safeParse(options.label);
    if (!label.success)
      throw new FerryError(
        'E_BAD_REQUEST',
        `Invalid --label: ${label.error.issues[0]?.message ?? 'invalid'}`,
      );
  }
  const sourceStat = await stat(sourceDir).catch(() => undefined);
  if (!sourceStat?.isDirectory()) {
    throw new FerryError('E_SOURCE_NOT_FOUND', `No such folder: ${sourceDir}`, { path: sourceDir });
  }
  const { root, manifest } = await loadManifest(sourceDir);
  const [appName, appManifest] = selectApp(manifest, options.app);
  const appRoot = path.resolve(root, appManifest.path);
  const appStat = await stat(appRoot).catch(() => undefined);
  if (!appStat?.isDirectory()) {
    throw new FerryError(
      'E_SOURCE_NOT_FOUND',
      `apps.${appName}.path points to ${appManifest.path}, which is not a folder under ${root}`,
      { path: appRoot },
    );
  }

  const listing = await listSourceFiles(root, appRoot, appManifest.exclude, (count) =>
    onProgress?.({ phase: 'scan', done: count, total: 0 }),
  );
  for (const skipped of listing.skipped) options.onSkipped?.(skipped);
  const files = await describeFiles(listing.entries, onProgress);
  const git = await readGitInfo(appRoot);

  const meta: BundleMeta = {
    format: BUNDLE_FORMAT,
    app: appName,
    label: options.label ?? null,
    git: { commit: git.commit, dirty: git.dirty },
    createdAt: creationTime(listing.entries, git).toISOString(),
    manifest: { apps: { [appName]: appManifest } },
    files,
  };

  const out = path.resolve(
    options.out ?? `${appName}${options.label ? `-${options.label}` : ''}.tar.gz`,
  );
  const partial = `${out}.partial-${process.pid}`;
  try {
    const meter = new HashingMeter();
    const writing = pipeline(
      writeTar(meta, listing.entries, onProgress),
      createGzip({ level: 6 }),
      meter,
      createWriteStream(partial),
    );
    await writing;
    await rename(partial, out);
    return { file: out, size: meter.bytes, sha256: meter.sha256(), meta };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function describeFiles(
  entries: SourceEntry[],
  onProgress?: (progress: BundleProgress) => void,
): Promise<BundleFile[]> {
  const total = entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
  let done = 0;
  const files: BundleFile[] = [];
  for (const entry of entries) {
    if (entry.type === 'symlink') {
      files.push({ type: 'symlink', path: entry.path, target: entry.target });
      continue;
    }
    files.push({
      type: 'file',
      path: entry.path,
      size: entry.size,
      mode: entry.mode,
      sha256: await sha256File(entry.abs),
    });
    done += entry.size;
    onProgress?.({ phase: 'hash', done, total });
  }
  return files;
}

function creationTime(
  entries: SourceEntry[],
  git: { dirty: boolean | null; commitTime: Date | null },
): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  if (git.dirty === false && git.commitTime) return git.commitTime;
  const newest = entries.reduce((max, e) => Math.max(max, Math.floor(e.mtimeMs / 1000) * 1000), 0);
  return new Date(newest);
}

function writeTar(
  meta: BundleMeta,
  entries: SourceEntry[],
  onProgress?: (progress: BundleProgress) => void,
): NodeJS.ReadableStream {
  const tar = tarPack();
  const total = entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
  const addAll = async () => {
    const metaBytes = Buffer.from(`${JSON.stringify(meta, null, 2)}\n`);
    await addEntry(
      tar,
      { ...FIXED_HEADER, name: BUNDLE_META_FILE, mode: 0o644, size: metaBytes.length },
      metaBytes,
    );
    let done = 0;
    for (const entry of entries) {
      if (entry.type === 'symlink') {
        await addEntry(tar, {
          ...FIXED_HEADER,
          name: entry.path,
          type: 'symlink',
          linkname: entry.target,
          mode: 0o777,
        });
        continue;
      }
      const header: EntryHeader = {
        ...FIXED_HEADER,
        name: entry.path,
        mode: entry.mode,
        size: entry.size,
      };
      await new Promise<void>((resolve, reject) => {
        const sink = tar.entry(header, (err) => (err ? reject(err) : resolve()));
        // A file that changes size while it is read would corrupt the archive: tar-stream
        // rejects the entry, and the error ends the bundle.
        pipeline(createReadStream(entry.abs, { highWaterMark: 1024 * 1024 }), sink).catch(reject);
      });
      done += entry.size;
      onProgress?.({ phase: 'write', done, total });
    }
    tar.finalize();
  };
  addAll().catch((err: unknown) => tar.destroy(err as Error));
  return tar as unknown as NodeJS.ReadableStream;
}

function addEntry(tar: Pack, header: EntryHeader, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    tar.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}
