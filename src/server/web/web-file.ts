import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** What a URL path names in the dashboard's folder. */
export type WebFile =
  /** A regular file inside the folder, by its real path. */
  | { kind: 'file'; path: string; size: number }
  /** Nothing there (or a folder): a page of the dashboard's own router, or a missing file. */
  | { kind: 'missing' }
  /** A path that tries to leave the folder, or to read what is not served; the reason says how. */
  | { kind: 'refused'; reason: string };

/**
 * Finds the file a URL path names inside `root`, refusing every way out of it:
 * `..` and `.` segments (plain or %-encoded), backslashes and NUL bytes, hidden
 * files, and a symbolic link whose target lies outside the folder.
 *
 * @example
 *   await findWebFile('/srv/ferry/dist/web', '/assets/index-3f2a.js') // { kind: 'file', ... }
 *   await findWebFile('/srv/ferry/dist/web', '/%2e%2e/package.json') // { kind: 'refused', ... }
 */
export async function findWebFile(root: string, urlPath: string): Promise<WebFile> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'refused', reason: 'the path is not valid %-encoding' };
  }
  if (/[\\\0]/.test(decoded)) {
    return { kind: 'refused', reason: 'the path holds a backslash or a NUL byte' };
  }
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) {
    return { kind: 'refused', reason: 'the path climbs out of the dashboard with ..' };
  }
  if (segments.some((s) => s.startsWith('.'))) {
    return { kind: 'refused', reason: 'hidden files are not served' };
  }
  if (segments.length === 0) return { kind: 'missing' };
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(path.join(root, ...segments));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw err;
  }
  if (!real.startsWith(realRoot + path.sep)) {
    return { kind: 'refused', reason: 'the path leads out of the dashboard through a link' };
  }
  const info = await stat(real);
  return info.isFile() ? { kind: 'file', path: real, size: info.size } : { kind: 'missing' };
}

/** Content types by file extension; anything else is served as bytes. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The Content-Type of a dashboard file, by its extension. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}
