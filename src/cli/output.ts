import { CONTROL_CHARACTERS, jsonText } from '../protocol/fields.js';

/** Prints a value as indented JSON on stdout, for `--json` (`jsonText`). */
export function printJson(value: unknown): void {
  process.stdout.write(`${jsonText(value)}\n`);
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
  if (typeof value === 'string') return printable(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

const CONTROL_CHARACTERS_ALL = new RegExp(CONTROL_CHARACTERS.source, 'gu');

/**
 * A stored string made safe to print on a terminal: every control character
 * (escape sequences, newlines, bidi overrides) is shown as its `\u` escape, so a
 * record can never move the cursor, recolour or hide the lines around it, even one
 * stored before names and labels were checked.
 *
 * @example
 *   printable('a\x1b[2Jb'); // 'a\\u001b[2Jb'
 */
export function printable(text: string): string {
  return text.replace(
    CONTROL_CHARACTERS_ALL,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`,
  );
}

/** `2026-11-22 06:01` from an ISO time, in UTC. */
export function shortTime(iso: string | null): string {
  if (!iso) return '-';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
