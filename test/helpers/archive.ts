import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';

/** One entry of a tar archive, read back in full. */
export interface ArchiveEntry {
  name: string;
  type: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  linkname: string | null;
  content: Buffer;
}

/** Reads every entry of a .tar.gz file, in archive order. */
export async function readArchive(file: string): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  const tar = extract();
  tar.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c) => {
      chunks.push(c as Buffer);
    });
    body.on('end', () => {
      entries.push({
        name: header.name,
        type: header.type,
        mode: header.mode,
        mtime: header.mtime.getTime(),
        uid: header.uid,
        gid: header.gid,
        linkname: header.linkname || null,
        content: Buffer.concat(chunks),
      });
      next();
    });
  });
  await pipeline(createReadStream(file) as Readable, createGunzip(), tar);
  return entries;
}

/** An entry to write with `writeArchive`: a file by default. */
export interface RawEntry {
  name: string;
  content?: Buffer | string;
  type?: 'file' | 'symlink' | 'link' | 'directory' | 'fifo' | 'character-device';
  linkname?: string;
  mode?: number;
}

/**
 * Builds a gzipped tar from raw entries, for archives `ferry bundle` would never write.
 * `trailing` is appended to the tar before it is gzipped (zero blocks past its end, say).
 */
export async function writeArchive(
  entries: RawEntry[],
  options: { trailing?: Buffer } = {},
): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    await new Promise<void>((resolve, reject) =>
      tar.entry(
        {
          name: entry.name,
          type: entry.type ?? 'file',
          mode: entry.mode ?? 0o644,
          ...(entry.linkname ? { linkname: entry.linkname } : {}),
          ...(entry.type === undefined || entry.type === 'file' ? { size: content.length } : {}),
        },
        entry.type === undefined || entry.type === 'file' ? content : Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  tar.finalize();
  await ended;
  if (options.trailing) chunks.push(options.trailing);
  return gzipSync(Buffer.concat(chunks));
}
