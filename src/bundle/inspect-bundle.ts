import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';

/** An entry's body as tar-stream hands it over. */
type EntryBody = AsyncIterable<unknown> & { resume(): unknown };
import { FerryError } from '../protocol/errors.js';
import {
  BUNDLE_META_FILE,
  type BundleFile,
  type BundleMeta,
  bundleMetaSchema,
} from './bundle-meta.js';
import { resolveLinkTarget, unsafeEntryPath } from './entry-path.js';

/** Bounds on what one bundle may hold once unpacked. */
export interface BundleLimits {
  maxFiles: number;
  maxUnpackedBytes: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = {
  maxFiles: 200_000,
  maxUnpackedBytes: 8 * 1024 ** 3,
};

const MAX_META_BYTES = 64 * 1024 * 1024;

/**
 * Reads a bundle as a stream and checks all of it: a valid gzip holding a tar whose
 * first entry is a valid `ferry-bundle.json` that defines its own app, followed by
 * exactly the entries it lists, in order, each with the listed type, size and
 * sha256, every path safe, within `limits`. Resolves to the metadata; rejects with
 * a `FerryError` naming the first problem.
 */
export async function inspectBundle(
  source: Readable,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
): Promise<BundleMeta> {
  const extract = tarExtract();
  let meta: BundleMeta | undefined;
  let index = 0;

  extract.on('entry', (header, body, next) => {
    const checking =
      meta === undefined
        ? readMeta(header, body, limits)
        : checkEntry(header, body, meta.files[index++]);
    checking.then(
      (read) => {
        if (read) meta = read;
        next();
      },
      (err: unknown) => {
        body.resume();
        extract.destroy(err as Error);
      },
    );
  });

  try {
    // Larger output chunks than zlib's 16 KiB default: inflating is then 2.5x faster.
    await pipeline(source, createGunzip({ chunkSize: 256 * 1024 }), extract);
  } catch (err) {
    throw classify(err);
  }
  if (!meta)
    throw new FerryError(
      'E_BUNDLE_META_MISSING',
      `The archive is empty: it has no ${BUNDLE_META_FILE}`,
    );
  if (index !== meta.files.length) {
    const missing = meta.files[index]!;
    throw new FerryError(
      'E_BUNDLE_CONTENT_MISMATCH',
      `${BUNDLE_META_FILE} lists ${meta.files.length} entries but the archive ends after ${index}; "${missing.path}" is missing`,
      { path: missing.path },
    );
  }
  return meta;
}

async function readMeta(
  header: Header,
  body: EntryBody,
  limits: BundleLimits,
): Promise<BundleMeta> {
  if (header.name !== BUNDLE_META_FILE || header.type !== 'file') {
    throw new FerryError(
      'E_BUNDLE_META_MISSING',
      `The archive does not start with ${BUNDLE_META_FILE} (its first entry is "${header.name}"): it was not made by \`ferry bundle\``,
      { firstEntry: header.name },
    );
  }
  if ((header.size ?? 0) > MAX_META_BYTES) {
    throw new FerryError(
      'E_BUNDLE_META_INVALID',
      `${BUNDLE_META_FILE} is larger than ${MAX_META_BYTES} bytes`,
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new FerryError(
      'E_BUNDLE_META_INVALID',
      `${BUNDLE_META_FILE} is not valid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = bundleMetaSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 20)
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new FerryError(
      'E_BUNDLE_META_INVALID',
      `${BUNDLE_META_FILE} is invalid:\n  ${problems.join('\n  ')}`,
      {
        problems,
      },
    );
  }
  const meta = parsed.data;
  if (!Object.hasOwn(meta.manifest.apps, meta.app)) {
    throw new FerryError(
      'E_BUNDLE_APP_UNDEFINED',
      `The bundle is for app "${meta.app}", but its manifest defines only: ${Object.keys(meta.manifest.apps).join(', ') || 'nothing'}`,
      { app: meta.app, apps: Object.keys(meta.manifest.apps) },
    );
  }
  checkFileList(meta.files, limits);
  return meta;
}

function checkFileList(files: BundleFile[], limits: BundleLimits): void {
  if (files.length > limits.maxFiles) {
    throw new FerryError(
      'E_BUNDLE_TOO_LARGE',
      `The bundle holds ${files.length} files; the limit is ${limits.maxFiles}`,
      {
        files: files.length,
        limit: limits.maxFiles,
      },
    );
  }
  let total = 0;
  const kinds = new Map<string, BundleFile['type']>();
  for (const file of files) {
    const unsafe = unsafeEntryPath(file.path);
    if (unsafe || file.path === BUNDLE_META_FILE) {
      throw new FerryError(
        'E_BUNDLE_UNSAFE_PATH',
        `The bundle lists "${file.path}", whose path ${unsafe ?? 'is reserved'}`,
        { path: file.path },
      );
    }
    if (kinds.has(file.path)) {
      throw new FerryError(
        'E_BUNDLE_META_INVALID',
        `${BUNDLE_META_FILE} lists "${file.path}" twice`,
        {
          path: file.path,
        },
      );
    }
    kinds.set(file.path, file.type);
  }
  const isLink = (path: string) => kinds.get(path) === 'symlink';
  for (const file of files) {
    // Nothing may stand under a link (it would be written through it) or a file.
    const segments = file.path.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const parent = segments.slice(0, depth).join('/');
      if (kinds.has(parent)) {
        throw new FerryError(
          'E_BUNDLE_UNSAFE_PATH',
          `The bundle lists "${file.path}" under "${parent}", which is a ${kinds.get(parent)}`,
          { path: file.path },
        );
      }
    }
    if (
      file.type === 'symlink' &&
      resolveLinkTarget(file.path, file.target, isLink) === undefined
    ) {
      throw new FerryError(
        'E_BUNDLE_UNSAFE_PATH',
        `The bundle's link "${file.path}" points to "${file.target}", outside the bundle`,
        { path: file.path, target: file.target },
      );
    }
    if (file.type === 'file') total += file.size;
  }
  if (total > limits.maxUnpackedBytes) {
    throw new FerryError(
      'E_BUNDLE_TOO_LARGE',
      `The bundle unpacks to ${total} bytes; the limit is ${limits.maxUnpackedBytes}`,
      { bytes: total, limit: limits.maxUnpackedBytes },
    );
  }
}

async function checkEntry(
  header: Header,
  body: EntryBody,
  expected: BundleFile | undefined,
): Promise<void> {
  const mismatch = (what: string) =>
    new FerryError('E_BUNDLE_CONTENT_MISMATCH', `Archive entry "${header.name}" ${what}`, {
      path: header.name,
    });
  if (!expected) throw mismatch(`is not listed in ${BUNDLE_META_FILE}`);
  if (header.name !== expected.path)
    throw mismatch(`stands where ${BUNDLE_META_FILE} lists "${expected.path}"`);
  if (header.type !== expected.type) {
    if (header.type !== 'file' && header.type !== 'symlink') {
      throw new FerryError(
        'E_BUNDLE_UNSAFE_PATH',
        `Archive entry "${header.name}" is a ${header.type}; bundles hold only files and links`,
        {
          path: header.name,
        },
      );
    }
    throw mismatch(`is a ${header.type}, listed as a ${expected.type}`);
  }
  if (expected.type === 'symlink') {
    if (header.linkname !== expected.target)
      throw mismatch(`links to "${header.linkname}", listed as "${expected.target}"`);
    body.resume();
    return;
  }
  if (header.size !== expected.size)
    throw mismatch(`has ${header.size} bytes, listed as ${expected.size}`);
  if ((header.mode & 0o777) !== expected.mode) {
    throw mismatch(
      `has mode ${(header.mode & 0o777).toString(8)}, listed as ${expected.mode.toString(8)}`,
    );
  }
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== expected.sha256)
    throw mismatch(`has sha256 ${actual}, listed as ${expected.sha256}`);
}

function classify(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  const error = err as NodeJS.ErrnoException;
  if (typeof error.code === 'string' && error.code.startsWith('Z_')) {
    return new FerryError(
      'E_BUNDLE_NOT_GZIP',
      `The upload is not a valid gzip stream (${error.message})`,
      undefined,
      {
        cause: err,
      },
    );
  }
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) {
    return new FerryError('E_INTERNAL', `Checking the bundle failed: ${error.message}`, undefined, {
      cause: err,
    });
  }
  if (error.code === 'ERR_STREAM_PREMATURE_CLOSE')
    return new FerryError('E_UPLOAD_INCOMPLETE', 'The upload ended early');
  return new FerryError(
    'E_BUNDLE_NOT_TAR',
    `The gzip stream does not hold a valid tar archive (${error.message})`,
    undefined,
    {
      cause: err,
    },
  );
}
