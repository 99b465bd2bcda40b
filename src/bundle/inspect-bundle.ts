import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { FerryError } from '../protocol/errors.js';
import {
  BUNDLE_META_FILE,
  type BundleFile,
  type BundleMeta,
  bundleMetaSchema,
} from './bundle-meta.js';
import { resolveLinkTarget, unsafeEntryPath } from './entry-path.js';

/** An entry's body as tar-stream hands it over. */
export type EntryBody = AsyncIterable<unknown> & {
  resume(): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
};

/**
 * Stops reading an archive at a refused entry. Destroying the reader destroys
 * the entry's body with the same error, which the pipeline already reports: the
 * listener only keeps a body that was never read from throwing it again.
 */
export function stopAtEntry(
  extract: { destroy(err: Error): unknown },
  body: EntryBody,
  err: unknown,
): void {
  body.on('error', () => undefined);
  body.resume();
  extract.destroy(err as Error);
}

/** A bundle file entry as `ferry-bundle.json` lists it. */
export type ListedFile = Extract<BundleFile, { type: 'file' }>;

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
  const archive = archiveChecker(limits);
  try {
    await pipeline(source, archive.gunzip, archive.tarBytes, archive.extract);
  } catch (err) {
    throw classifyBundleError(err);
  }
  return archive.complete();
}

/**
 * `inspectBundle` for a caller that writes the bundle's bytes itself: `input`
 * takes them (a write's callback runs once its bytes are inflated, so the
 * caller may then reuse their memory) and `checked` settles as
 * `inspectBundle` would, once `input` has ended (bytes after the gzip data are
 * taken in: zero padding passes, anything else is refused). Destroying `input`
 * stops the check.
 */
export function startBundleCheck(limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): {
  input: Writable;
  checked: Promise<BundleMeta>;
} {
  const archive = archiveChecker(limits);
  const { gunzip } = archive;
  let gzipEnded = false;
  gunzip.once('end', () => (gzipEnded = true));
  // The gzip data may end before the input does: zlib then ends its output while
  // bytes still come. The check ends only once the input has too, every byte
  // through zlib as an unpack reads them: zero padding is skipped, anything else
  // is taken for another gzip member and fails (Z_DATA_ERROR), as it fails there.
  const checked = Promise.all([
    pipeline(gunzip, archive.tarBytes, archive.extract),
    finished(gunzip, { readable: false }),
  ]).then(
    () => archive.complete(),
    (err: unknown) => {
      const error = err as NodeJS.ErrnoException;
      if (gzipEnded && typeof error.code === 'string' && error.code.startsWith('Z_')) {
        throw new FerryError(
          'E_BUNDLE_NOT_GZIP',
          `The upload goes on after its gzip data with bytes that are neither zero padding nor another gzip member (${error.message}); an unpack would refuse it`,
          undefined,
          { cause: err },
        );
      }
      throw classifyBundleError(err);
    },
  );
  return { input: gunzip, checked };
}

/** The streams of one check, from gzip to tar entries, and the last check once they end. */
function archiveChecker(limits: BundleLimits) {
  const extract = tarExtract();
  const tarBytes = new TarBytesLimit();
  let meta: BundleMeta | undefined;
  let index = 0;

  extract.on('entry', (header, body, next) => {
    const checking =
      meta === undefined
        ? readBundleMeta(header, body, limits).then((read) => {
            meta = read.meta;
            tarBytes.allowFor(read.meta.files);
          })
        : checkEntry(header, body, meta.files[index++]);
    checking.then(
      () => next(),
      (err: unknown) => stopAtEntry(extract, body, err),
    );
  });
  return {
    // Larger output chunks than zlib's 16 KiB default: inflating is then 2.5x faster.
    gunzip: createGunzip({ chunkSize: 1024 * 1024 }),
    tarBytes,
    extract,
    complete: () => checkComplete(meta, index),
  };
}

/**
 * Checks, once the archive has ended, that it held `ferry-bundle.json` and every
 * entry it lists (`seen` entries came after it). Returns the metadata.
 */
export function checkComplete(meta: BundleMeta | undefined, seen: number): BundleMeta {
  if (!meta)
    throw new FerryError(
      'E_BUNDLE_META_MISSING',
      `The archive is empty: it has no ${BUNDLE_META_FILE}`,
    );
  if (seen !== meta.files.length) {
    const missing = meta.files[seen]!;
    throw new FerryError(
      'E_BUNDLE_CONTENT_MISMATCH',
      `${BUNDLE_META_FILE} lists ${meta.files.length} entries but the archive ends after ${seen}; "${missing.path}" is missing`,
      { path: missing.path },
    );
  }
  return meta;
}

/**
 * Reads and checks the first entry of a bundle, `ferry-bundle.json`: valid JSON
 * matching its schema, defining its own app, and listing files that pass
 * `checkFileList`. Resolves to the metadata and the entry's bytes as they were.
 */
export async function readBundleMeta(
  header: Header,
  body: EntryBody,
  limits: BundleLimits,
): Promise<{ meta: BundleMeta; bytes: Buffer }> {
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
  const bytes = Buffer.concat(chunks);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
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
  return { meta, bytes };
}

/**
 * Checks the file list of `ferry-bundle.json` before any entry is read: within
 * `limits` (count and total size), every path safe and listed once, nothing listed
 * under a link or a file, and every link landing inside the bundle, chains
 * included. Throws a `FerryError` naming the first offending path.
 */
export function checkFileList(files: BundleFile[], limits: BundleLimits): void {
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

/**
 * Checks one archive entry against the file `ferry-bundle.json` lists at its place
 * (`undefined` past the end of the list): its path, type, link target, size, mode
 * and, reading the body, its sha256.
 *
 * @example
 *   await checkEntry(header, body, meta.files[index++]);
 */
export async function checkEntry(
  header: Header,
  body: EntryBody,
  expected: BundleFile | undefined,
): Promise<void> {
  const listed = checkEntryHeader(header, expected);
  if (listed.type === 'file') await checkEntryBody(header, body, listed);
  else body.resume();
}

/**
 * The header half of `checkEntry`, which reads no bytes: returns the listed entry
 * the header matches; a file's body is then read through `checkEntryBody`.
 */
export function checkEntryHeader(header: Header, expected: BundleFile | undefined): BundleFile {
  const unsafe = (what: string) =>
    new FerryError('E_BUNDLE_UNSAFE_PATH', `Archive entry "${header.name}" ${what}`, {
      path: header.name,
    });
  const mismatch = (what: string) =>
    new FerryError('E_BUNDLE_CONTENT_MISMATCH', `Archive entry "${header.name}" ${what}`, {
      path: header.name,
    });
  // What is dangerous in itself is named as such, whatever the list says.
  const unsafePath = unsafeEntryPath(header.name);
  if (unsafePath) throw unsafe(`has a path that ${unsafePath}`);
  if (header.type !== 'file' && header.type !== 'symlink') {
    throw unsafe(
      `is a ${header.type}${header.linkname ? ` to "${header.linkname}"` : ''}; bundles hold only files and links`,
    );
  }
  if (
    header.type === 'symlink' &&
    resolveLinkTarget(header.name, header.linkname ?? '') === undefined
  ) {
    throw unsafe(`links to "${header.linkname}", outside the bundle`);
  }
  if (!expected) throw mismatch(`is not listed in ${BUNDLE_META_FILE}`);
  if (header.name !== expected.path)
    throw mismatch(`stands where ${BUNDLE_META_FILE} lists "${expected.path}"`);
  if (header.type !== expected.type)
    throw mismatch(`is a ${header.type}, listed as a ${expected.type}`);
  if (expected.type === 'symlink') {
    if (header.linkname !== expected.target)
      throw mismatch(`links to "${header.linkname}", listed as "${expected.target}"`);
    return expected;
  }
  if (header.size !== expected.size)
    throw mismatch(`has ${header.size} bytes, listed as ${expected.size}`);
  if ((header.mode & 0o777) !== expected.mode) {
    throw mismatch(
      `has mode ${(header.mode & 0o777).toString(8)}, listed as ${expected.mode.toString(8)}`,
    );
  }
  return expected;
}

/**
 * The body half of `checkEntry`: reads a file entry's bytes, handing each chunk to
 * `write` (awaited, so a slow disk holds the archive back), and checks their sha256
 * against the listing once all are read.
 */
export async function checkEntryBody(
  header: Header,
  body: EntryBody,
  expected: ListedFile,
  write?: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    if (write) await write(chunk as Buffer);
  }
  const actual = hash.digest('hex');
  if (actual !== expected.sha256) {
    throw new FerryError(
      'E_BUNDLE_CONTENT_MISMATCH',
      `Archive entry "${header.name}" has sha256 ${actual}, listed as ${expected.sha256}`,
      { path: header.name },
    );
  }
}

/** Bytes a tar may hold before its first entry has told how much to expect. */
const TAR_BYTES_BEFORE_META = MAX_META_BYTES + 16 * 1024 * 1024;
/** Room for the end-of-archive blocks and the record padding some tar writers add. */
const TAR_END_SLACK = 1024 * 1024;

/**
 * A pass-through placed between gunzip and the tar reader that stops the stream
 * once the inflated tar is larger than its file list can explain. Entry sizes
 * are checked one by one, but the tar reader skips zero blocks without end and
 * buffers long headers, so a small archive could otherwise inflate for ever.
 */
export class TarBytesLimit extends Transform {
  bytes = 0;
  private limit = TAR_BYTES_BEFORE_META;

  /** Allows, beyond what has passed, the tar that `files` need, with generous room for headers. */
  allowFor(files: BundleFile[]): void {
    let room = TAR_END_SLACK;
    for (const file of files) {
      const names =
        Buffer.byteLength(file.path) +
        (file.type === 'symlink' ? Buffer.byteLength(file.target) : 0);
      room += 2048 + 2 * names;
      if (file.type === 'file') room += Math.ceil(file.size / 512) * 512;
    }
    this.limit = this.bytes + room;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(
        new FerryError(
          'E_BUNDLE_TOO_LARGE',
          `The archive inflates to more than ${this.limit} bytes of tar, more than its ${BUNDLE_META_FILE} accounts for`,
          { limit: this.limit },
        ),
      );
      return;
    }
    callback(null, chunk);
  }
}

/**
 * Turns an error from reading a bundle stream into a `FerryError`: zlib's errors
 * mean a bad gzip, tar-stream's a bad tar. `what` names the stream in the message.
 */
export function classifyBundleError(err: unknown, what = 'The upload'): FerryError {
  if (err instanceof FerryError) return err;
  const error = err as NodeJS.ErrnoException;
  if (typeof error.code === 'string' && error.code.startsWith('Z_')) {
    return new FerryError(
      'E_BUNDLE_NOT_GZIP',
      `${what} is not a valid gzip stream (${error.message})`,
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
    return new FerryError('E_UPLOAD_INCOMPLETE', `${what} ended early`);
  return new FerryError(
    'E_BUNDLE_NOT_TAR',
    `The gzip stream does not hold a valid tar archive (${error.message})`,
    undefined,
    {
      cause: err,
    },
  );
}
