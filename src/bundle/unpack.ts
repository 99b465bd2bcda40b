import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, openSync, writevSync } from 'node:fs';
import { mkdir, open, rm, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { FerryError } from '../protocol/errors.js';
import { BUNDLE_META_FILE, type BundleFile, type BundleMeta } from './bundle-meta.js';
import { HashingMeter } from './hashing.js';
import {
  type BundleLimits,
  checkComplete,
  checkEntryHeader,
  classifyBundleError,
  DEFAULT_BUNDLE_LIMITS,
  type EntryBody,
  readBundleMeta,
  stopAtEntry,
  TarBytesLimit,
} from './inspect-bundle.js';

export interface UnpackOptions {
  /** The bundle file (.tar.gz) to unpack. */
  archive: string;
  /** The release folder to create; it must not exist yet. */
  dest: string;
  /**
   * When given, the archive's sha256 must equal it (hashed on the way). The
   * agent does not ask: its fetch hashed the bytes as they were downloaded and
   * its verify step checked that digest and the server's signature over it.
   */
  expectedSha256?: string;
  /**
   * Also hash every file against the sha256 `ferry-bundle.json` lists for it
   * (off by default): the server checked each file at push, and the archive's
   * sha256, which the server signs, binds them all. See docs/security.md.
   */
  checkFileHashes?: boolean;
  limits?: BundleLimits;
  /** Called as file bytes are written; `totalBytes` is the sum the bundle lists. */
  onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

/**
 * Creates a file that must not exist yet, without following a link at its place:
 * an entry can never write over something or through a link.
 */
const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A file's bytes are gathered up to this much and written in one `writev`: few system calls. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/**
 * A file this small (most of a bundle's) is written with synchronous calls once
 * its bytes are read: open, write, chmod and close take microseconds, where four
 * trips through libuv's thread pool per file took most of an unpack's time.
 */
const SMALL_FILE_BYTES = 64 * 1024;

/**
 * Unpacks a bundle into a new release folder, streaming the archive once
 * through gunzip and the tar reader straight into the release's files (each
 * written with few large writes, nothing copied on the way): every entry is
 * checked against `ferry-bundle.json` as a push checks it (`checkFileList`,
 * `checkEntryHeader`: path, type, size, mode, link target) and written —
 * `ferry-bundle.json` too, each file with its listed mode, each link as
 * listed, links last. Resolves to the bundle's metadata. The files' own sha256
 * are checked only with `checkFileHashes`, the archive's only with
 * `expectedSha256`.
 *
 * Hostile archives are refused with a `FerryError` naming the entry: unsafe paths,
 * links leaving the release or entries under a link, hard links, devices, FIFOs,
 * more files or bytes than `limits` (counted as declared and as written), a file
 * (when checked) or an archive (when expected) whose sha256 differs. On any failure the half-made release is
 * removed; nothing is ever written outside `dest`. A `dest` that already exists is
 * refused and left alone.
 *
 * @example
 *   const meta = await unpackBundle({ archive: cached, dest: `${appDir}/releases/12`, expectedSha256 });
 */
export async function unpackBundle(options: UnpackOptions): Promise<BundleMeta> {
  const { archive, expectedSha256, limits = DEFAULT_BUNDLE_LIMITS, onProgress } = options;
  const checkFileHashes = options.checkFileHashes ?? false;
  const dest = path.resolve(options.dest);
  const input = await open(archive, 'r');
  try {
    const { size: archiveBytes } = await input.stat();
    // The parents are the caller's layout (`releases/`), not the archive's.
    await mkdir(path.dirname(dest), { recursive: true });
    try {
      await mkdir(dest, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw new FerryError(
        'E_RELEASE_EXISTS',
        `The release folder ${dest} already exists; a release is unpacked only once`,
        { path: dest },
      );
    }
    const release = new ReleaseWriter(dest, limits, checkFileHashes, onProgress);
    try {
      const meta = await release.extract(input, archiveBytes, expectedSha256);
      await release.createLinks();
      return meta;
    } catch (err) {
      await release.abandon().catch((cleanupErr: unknown) => {
        throw new FerryError(
          'E_INTERNAL',
          `Unpacking into ${dest} failed, and the half-made release could not be removed: ${(cleanupErr as Error).message}`,
          { path: dest },
          { cause: err },
        );
      });
      throw err;
    }
  } finally {
    await input.close();
  }
}

/** The writing side of one `unpackBundle`: what it made, so it can be undone. */
class ReleaseWriter {
  private readonly folders = new Set<string>(['']);
  private readonly links: Extract<BundleFile, { type: 'symlink' }>[] = [];
  private meta: BundleMeta | undefined;
  private written = 0;
  private totalBytes = 0;
  /** The entry being written; awaited before cleaning up, so nothing is created after. */
  private inFlight: Promise<void> = Promise.resolve();
  private abandoned = false;

  constructor(
    private readonly dest: string,
    private readonly limits: BundleLimits,
    private readonly checkFileHashes: boolean,
    private readonly onProgress: ((bytesWritten: number, totalBytes: number) => void) | undefined,
  ) {}

  async extract(
    input: FileHandle,
    archiveBytes: number,
    expectedSha256: string | undefined,
  ): Promise<BundleMeta> {
    const archiveMeter = expectedSha256 === undefined ? undefined : new HashingMeter();
    const tarBytes = new TarBytesLimit();
    const extract = tarExtract();
    let index = 0;

    extract.on('entry', (header, body, next) => {
      const entryIndex = this.meta === undefined ? -1 : index++;
      this.inFlight = (
        entryIndex < 0
          ? this.writeMeta(header, body, tarBytes)
          : this.writeEntry(header, body, entryIndex)
      ).then(
        () => next(),
        (err: unknown) => stopAtEntry(extract, body, err),
      );
    });

    try {
      const read = input.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 });
      const gunzip = createGunzip({ chunkSize: 256 * 1024 });
      await (archiveMeter
        ? pipeline(read, archiveMeter, gunzip, tarBytes, extract)
        : pipeline(read, gunzip, tarBytes, extract));
    } catch (err) {
      // A disk error while writing is not a fault of the archive: keep it as it is.
      if (typeof (err as NodeJS.ErrnoException).syscall === 'string') throw err;
      throw classifyBundleError(err, 'The archive');
    }
    const meta = checkComplete(this.meta, index);
    if (archiveMeter && expectedSha256 !== undefined) {
      const actual = archiveMeter.bytes === archiveBytes ? archiveMeter.sha256() : undefined;
      if (actual !== expectedSha256) {
        throw new FerryError(
          'E_BUNDLE_CONTENT_MISMATCH',
          `The archive's sha256 is ${actual ?? `not that of all its ${archiveBytes} bytes`}, expected ${expectedSha256}`,
          { expected: expectedSha256, actual: actual ?? null },
        );
      }
    }
    return meta;
  }

  /** Creates the listed links, once every file is in place and checked. */
  async createLinks(): Promise<void> {
    for (const link of this.links) {
      this.throwIfAbandoned();
      await symlink(link.target, this.resolve(link.path));
    }
  }

  /** Removes the half-made release, once the entry being written has stopped. */
  async abandon(): Promise<void> {
    this.abandoned = true;
    await this.inFlight.catch(() => undefined);
    await rm(this.dest, { recursive: true, force: true });
  }

  private async writeMeta(header: Header, body: EntryBody, tarBytes: TarBytesLimit): Promise<void> {
    const { meta, bytes } = await readBundleMeta(header, body, this.limits);
    tarBytes.allowFor(meta.files);
    this.totalBytes = meta.files.reduce((sum, f) => sum + (f.type === 'file' ? f.size : 0), 0);
    this.throwIfAbandoned();
    const handle = await open(this.resolve(BUNDLE_META_FILE), CREATE_FLAGS, 0o644);
    try {
      await writeAll(handle, bytes);
      await handle.chmod(0o644);
    } finally {
      await handle.close();
    }
    this.meta = meta;
  }

  private async writeEntry(header: Header, body: EntryBody, index: number): Promise<void> {
    const files = this.meta!.files;
    if (index >= this.limits.maxFiles) {
      throw new FerryError(
        'E_BUNDLE_TOO_LARGE',
        `Archive entry "${header.name}" is past the limit of ${this.limits.maxFiles} files`,
        { path: header.name, limit: this.limits.maxFiles },
      );
    }
    // Declared sizes are checked against the budget before a byte is written, so a
    // header that lies about its size stops the unpacking at once.
    const room = this.limits.maxUnpackedBytes - this.written;
    if (header.type === 'file' && (header.size ?? 0) > room) {
      throw this.tooLarge(header.name, this.written + (header.size ?? 0));
    }
    const expected = checkEntryHeader(header, files[index]);
    if (expected.type === 'symlink') {
      // Its place is made now; the link itself last, so nothing is written through it.
      await this.makeParents(expected.path);
      this.links.push(expected);
      body.resume();
      return;
    }
    await this.makeParents(expected.path);
    this.throwIfAbandoned();
    if (expected.size <= SMALL_FILE_BYTES) return this.writeSmallFile(header, body, expected);
    const handle = await open(this.resolve(expected.path), CREATE_FLAGS, 0o600);
    try {
      const hash = this.checkFileHashes ? createHash('sha256') : undefined;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        this.throwIfAbandoned();
        await writeAllv(handle, pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        this.onProgress?.(this.written, this.totalBytes);
      };
      for await (const piece of body) {
        const chunk = piece as Buffer;
        this.written += chunk.length;
        if (this.written > this.limits.maxUnpackedBytes)
          throw this.tooLarge(expected.path, this.written);
        hash?.update(chunk);
        // The tar reader's pieces are views of gunzip's output, never reused: kept, not copied.
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BUFFER_BYTES) await flush();
      }
      if (pendingBytes > 0) await flush();
      if (hash) checkContent(header, hash.digest('hex'), expected.sha256);
      await handle.chmod(expected.mode);
    } finally {
      await handle.close();
    }
  }

  /** Reads a small file's bytes (as many as its header says, at most `SMALL_FILE_BYTES`), then writes it at once. */
  private async writeSmallFile(
    header: Header,
    body: EntryBody,
    expected: Extract<BundleFile, { type: 'file' }>,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const piece of body) {
      const chunk = piece as Buffer;
      this.written += chunk.length;
      if (this.written > this.limits.maxUnpackedBytes)
        throw this.tooLarge(expected.path, this.written);
      chunks.push(chunk);
    }
    if (this.checkFileHashes) {
      const hash = createHash('sha256');
      for (const chunk of chunks) hash.update(chunk);
      checkContent(header, hash.digest('hex'), expected.sha256);
    }
    this.throwIfAbandoned();
    const fd = openSync(this.resolve(expected.path), CREATE_FLAGS, 0o600);
    try {
      let offset = 0;
      const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      while (offset < total) {
        const rest = offset === 0 ? chunks : [Buffer.concat(chunks).subarray(offset)];
        offset += writevSync(fd, rest);
      }
      fchmodSync(fd, expected.mode);
    } finally {
      closeSync(fd);
    }
    this.onProgress?.(this.written, this.totalBytes);
  }

  /**
   * Creates the folders above an entry, one level at a time and never with
   * `recursive`: the list holds nothing under a link or a file and links come last,
   * so each is a folder this unpacking made inside the release.
   */
  private async makeParents(entry: string): Promise<void> {
    const segments = entry.split('/').slice(0, -1);
    for (let depth = 1; depth <= segments.length; depth++) {
      const folder = segments.slice(0, depth).join('/');
      if (this.folders.has(folder)) continue;
      this.throwIfAbandoned();
      await mkdir(this.resolve(folder), { mode: 0o755 });
      this.folders.add(folder);
    }
  }

  /** The path on disk of an entry, checked once more to stay under the release. */
  private resolve(entry: string): string {
    const full = path.resolve(this.dest, entry);
    if (!full.startsWith(this.dest + path.sep)) {
      throw new FerryError(
        'E_BUNDLE_UNSAFE_PATH',
        `Entry "${entry}" would land outside the release`,
        {
          path: entry,
        },
      );
    }
    return full;
  }

  private tooLarge(entry: string, bytes: number): FerryError {
    return new FerryError(
      'E_BUNDLE_TOO_LARGE',
      `Archive entry "${entry}" takes the release past ${this.limits.maxUnpackedBytes} bytes (${bytes})`,
      { path: entry, bytes, limit: this.limits.maxUnpackedBytes },
    );
  }

  private throwIfAbandoned(): void {
    if (this.abandoned) throw new FerryError('E_INTERNAL', 'The unpacking was abandoned');
  }
}

/** Writes `chunks` (`total` bytes in all) in as few `writev` calls as the kernel allows. */
async function writeAllv(handle: FileHandle, chunks: Buffer[], total: number): Promise<void> {
  if (chunks.length === 1) return writeAll(handle, chunks[0]!);
  const { bytesWritten } = await handle.writev(chunks);
  if (bytesWritten < total) await writeAll(handle, Buffer.concat(chunks).subarray(bytesWritten));
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/** An entry whose bytes are not the ones `ferry-bundle.json` lists (`checkFileHashes` only). */
function checkContent(header: Header, actual: string, listed: string): void {
  if (actual === listed) return;
  throw new FerryError(
    'E_BUNDLE_CONTENT_MISMATCH',
    `Archive entry "${header.name}" has sha256 ${actual}, listed as ${listed}`,
    { path: header.name },
  );
}
