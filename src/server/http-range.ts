/** A byte range of a resource, both ends inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Reads a `Range` header for a resource of `size` bytes (RFC 9110 §14).
 * Returns `undefined` when the whole resource should be sent (no header, a header
 * this server does not honour such as several ranges, or one it cannot parse),
 * `'unsatisfiable'` for a range that lies outside the resource, or the one range.
 *
 * @example
 *   parseRange('bytes=0-99', 1000)  // { start: 0, end: 99 }
 *   parseRange('bytes=-100', 1000)  // { start: 900, end: 999 }
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
