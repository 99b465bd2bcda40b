import { type Style, applySgr, classesOf, NO_CLASSES, plainStyle } from './ansi-sgr.js';

/**
 * Step output as the page shows it: text with ANSI colours read into runs of
 * plain text, each with the CSS classes of its style. Only SGR (colours, bold,
 * dim, italic, underline, reset) survives; every other escape — cursor moves,
 * erases, OSC titles and OSC 8 links, device strings — is removed, never passed
 * on. A `\r` that is followed by more text starts the line again, as a
 * terminal's progress bar does, so only its last state is kept. What comes out
 * is text, to be rendered as text nodes: never HTML.
 *
 * @example
 *   parseAnsiLines('\x1b[1;31merror\x1b[0m: no such file\n');
 *   // [[{ text: 'error', classes: ['ansi-fg-red', 'ansi-bold'] }, { text: ': no such file', classes: [] }]]
 */

/** A stretch of text in one style. */
export interface AnsiRun {
  readonly text: string;
  readonly classes: readonly string[];
}

/** One line of output, as runs; an empty line has none. */
export type AnsiLine = readonly AnsiRun[];

/**
 * At most this many runs in one line: a hostile line that changes colour on
 * every character would otherwise become a million elements. Past it, the rest
 * of the line keeps the style of its last run.
 */
export const MAX_RUNS_PER_LINE = 500;

/** Characters that need more than copying: C0 and C1 controls but tab, and the bidi and line separators. */
// eslint-disable-next-line no-control-regex
const SPECIAL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The same as `SPECIAL`, by character code, for the loop over a line. */
function isSpecialCode(code: number): boolean {
  if (code < 0x20) return code !== 0x09;
  if (code < 0x7f) return false;
  if (code <= 0x9f) return true;
  return isEscapedCode(code);
}

/** Shown escaped rather than acting on the text around them (reordering it, breaking lines). */
function isEscapedCode(code: number): boolean {
  return (
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/**
 * Reads text with ANSI sequences into lines of styled runs. Lines end at `\n`
 * (or `\r\n`); a final newline makes no empty line after it. The style carries
 * from one line to the next, as on a terminal.
 */
export function parseAnsiLines(text: string): AnsiLine[] {
  if (text === '') return [];
  const rawLines = text.split('\n');
  if (rawLines[rawLines.length - 1] === '') rawLines.pop();
  const style = plainStyle();
  const lines: AnsiLine[] = new Array<AnsiLine>(rawLines.length);
  for (let i = 0; i < rawLines.length; i++) {
    let raw = rawLines[i]!;
    // `\r\n` ends a line as `\n` does.
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (!SPECIAL.test(raw)) {
      lines[i] = raw === '' ? [] : [{ text: raw, classes: classesOf(style) }];
    } else {
      lines[i] = parseLine(raw, style);
    }
  }
  return lines;
}

/** The same as `parseAnsiLines`, as one list of runs with the newlines in their text. */
export function parseAnsi(text: string): AnsiRun[] {
  const runs: AnsiRun[] = [];
  const lines = parseAnsiLines(text);
  lines.forEach((line, index) => {
    if (index > 0) runs.push({ text: '\n', classes: NO_CLASSES });
    runs.push(...line);
  });
  return runs;
}

/** A line's text without its styles: what search looks in and copy takes. */
export function lineText(line: AnsiLine): string {
  if (line.length === 1) return line[0]!.text;
  let text = '';
  for (const run of line) text += run.text;
  return text;
}

/** Text with every escape removed and `\r` overwrites applied: what a person reads. */
export function stripAnsi(text: string): string {
  return parseAnsiLines(text).map(lineText).join('\n');
}

/** One line with something besides plain text in it; `style` is updated as SGR says. */
function parseLine(raw: string, style: Style): AnsiRun[] {
  let runs: AnsiRun[] = [];
  let buffer = '';
  let bufferClasses = classesOf(style);
  /** A `\r` was seen: the next visible text starts the line again. */
  let overwrite = false;

  const add = (piece: string) => {
    if (piece === '') return;
    if (overwrite) {
      runs = [];
      buffer = '';
      overwrite = false;
    }
    const classes = classesOf(style);
    if (classes !== bufferClasses) {
      flush();
      bufferClasses = classes;
    }
    buffer += piece;
  };
  const flush = () => {
    if (buffer === '') return;
    const last = runs[runs.length - 1];
    if (
      last !== undefined &&
      (last.classes === bufferClasses || runs.length >= MAX_RUNS_PER_LINE)
    ) {
      runs[runs.length - 1] = { text: last.text + buffer, classes: last.classes };
    } else {
      runs.push({ text: buffer, classes: bufferClasses });
    }
    buffer = '';
  };

  let start = 0;
  let i = 0;
  while (i < raw.length) {
    const code = raw.charCodeAt(i);
    if (!isSpecialCode(code)) {
      i++;
      continue;
    }
    add(raw.slice(start, i));
    let next: number;
    if (code === 0x1b) next = escapeEnd(raw, i + 1, style);
    else if (code === 0x9b) next = csiEnd(raw, i + 1, style);
    else if (code === 0x9d) next = stringEnd(raw, i + 1);
    else if (code === 0x90 || code === 0x98 || code === 0x9e || code === 0x9f)
      next = stringEnd(raw, i + 1);
    else if (code === 0x0d) {
      overwrite = true;
      next = i + 1;
    } else if (isEscapedCode(code)) {
      add(`\\u${code.toString(16).padStart(4, '0')}`);
      next = i + 1;
    } else next = i + 1; // any other control character: dropped
    i = next;
    start = next;
  }
  add(raw.slice(start));
  // A `\r` with nothing after it (`50%\r` at the end) leaves the line as it was.
  overwrite = false;
  flush();
  return runs;
}

/** Where the sequence that starts with ESC (just before `at`) ends; SGR updates `style`. */
function escapeEnd(raw: string, at: number, style: Style): number {
  if (at >= raw.length) return at; // a lone ESC at the end of the line
  const c = raw[at]!;
  if (c === '[') return csiEnd(raw, at + 1, style);
  if (c === ']' || c === 'P' || c === 'X' || c === '^' || c === '_') return stringEnd(raw, at + 1);
  // ESC, intermediates (0x20–0x2F), one final byte: a charset choice, a keypad mode, a reset.
  let j = at;
  while (j < raw.length && raw.charCodeAt(j) >= 0x20 && raw.charCodeAt(j) <= 0x2f) j++;
  if (j < raw.length && raw.charCodeAt(j) >= 0x30 && raw.charCodeAt(j) <= 0x7e) return j + 1;
  return j; // malformed: drop what was read and go on from there
}

/**
 * Where a control sequence (after `ESC [`) ends. A complete SGR (`m`) changes
 * the style; any other one is dropped, and so is one cut short (by the end of
 * the line or a byte that has no place in it), which leaves the byte to be read.
 */
function csiEnd(raw: string, at: number, style: Style): number {
  let j = at;
  while (j < raw.length && raw.charCodeAt(j) >= 0x30 && raw.charCodeAt(j) <= 0x3f) j++;
  const params = raw.slice(at, j);
  while (j < raw.length && raw.charCodeAt(j) >= 0x20 && raw.charCodeAt(j) <= 0x2f) j++;
  if (j >= raw.length) return j;
  const final = raw.charCodeAt(j);
  if (final < 0x40 || final > 0x7e) return j;
  if (final === 0x6d && j === at + params.length && !/^[<=>?]/.test(params)) {
    applySgr(params, style);
  }
  return j + 1;
}

/**
 * Where an OSC or device string ends: at BEL, at ST (`ESC \` or U+009C), or at
 * the end of the line — a stray one never swallows the rest of a log.
 */
function stringEnd(raw: string, at: number): number {
  for (let j = at; j < raw.length; j++) {
    const code = raw.charCodeAt(j);
    if (code === 0x07 || code === 0x9c) return j + 1;
    if (code === 0x1b && raw[j + 1] === '\\') return j + 2;
  }
  return raw.length;
}
