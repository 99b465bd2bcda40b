/** Prints a value as indented JSON on stdout, for `--json`. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Prints rows as a table with a header, columns padded to their widest cell.
 *
 * @example
 *   printTable([{ name: 'cart', latest: 12 }], [['NAME', 'name'], ['LATEST', 'latest']]);
 */
export function printTable<T>(
  rows: T[],
  columns: [string, (row: T) => unknown][],
  empty = '(none)',
): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const cells = rows.map((row) => columns.map(([, get]) => cellText(get(row))));
  const widths = columns.map(([title], i) =>
    Math.max(title.length, ...cells.map((c) => c[i]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns.map(([title]) => title))}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

/** Prints `key: value` lines, keys aligned. */
export function printFields(fields: [string, unknown][]): void {
  const width = Math.max(...fields.map(([key]) => key.length));
  for (const [key, value] of fields)
    process.stdout.write(`${`${key}:`.padEnd(width + 2)}${cellText(value)}\n`);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** `2026-11-22 06:01` from an ISO time, in UTC. */
export function shortTime(iso: string | null): string {
  if (!iso) return '-';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
