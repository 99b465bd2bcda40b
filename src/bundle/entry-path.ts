/**
 * Checks a path as written inside a bundle: relative, `/`-separated, with no
 * `.`/`..` or empty segments, no NUL and no backslash. Returns the reason it is
 * unsafe, or `undefined` when it is fine. Used when bundling, on push and on unpack.
 *
 * @example
 *   unsafeEntryPath('lib/index.js') // undefined
 *   unsafeEntryPath('../etc/passwd') // 'has a ".." segment'
 */
export function unsafeEntryPath(entry: string): string | undefined {
  if (entry.length === 0) return 'is empty';
  if (entry.length > 4096) return 'is longer than 4096 characters';
  if (entry.includes('\0')) return 'contains a NUL byte';
  if (entry.includes('\\')) return 'contains a backslash';
  if (entry.startsWith('/')) return 'is absolute';
  const segments = entry.split('/');
  if (segments.includes('..')) return 'has a ".." segment';
  if (segments.includes('.')) return 'has a "." segment';
  if (segments.includes('')) return 'has an empty segment';
  return undefined;
}

/**
 * Where a symbolic link at `entry` pointing to `target` lands, as a bundle path,
 * or `undefined` when it leaves the bundle's root. `isLink` tells which other
 * paths of the bundle are links: a `..` taken after passing through one is
 * refused, because on disk it climbs from where that link points, not from
 * where it stands (`q -> .` and `p -> q/..` would put `p` outside).
 */
export function resolveLinkTarget(
  entry: string,
  target: string,
  isLink: (path: string) => boolean = () => false,
): string | undefined {
  if (target.startsWith('/') || target.includes('\0') || target.includes('\\')) return undefined;
  const parts = entry.split('/').slice(0, -1);
  let throughLink = false;
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0 || throughLink) return undefined;
      parts.pop();
    } else {
      parts.push(segment);
      throughLink ||= isLink(parts.join('/'));
    }
  }
  return parts.join('/');
}
