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

/** The colours a run may take, by SGR number 0–15: 8 normal, then 8 bright. */
const COLOUR_NAMES = [
  'black',
  'red',
  'green',
  'yellow',
  'blue',
  'magenta',
  'cyan',
  'white',
  'bright-black',
  'bright-red',
  'bright-green',
  'bright-yellow',
  'bright-blue',
  'bright-magenta',
  'bright-cyan',
  'bright-white',
] as const;

/** xterm's values of the 16 colours: what a 256-colour or true colour is matched against. */
const PALETTE: readonly (readonly [number, number, number])[] = [
  [0, 0, 0],
  [205, 0, 0],
  [0, 205, 0],
  [205, 205, 0],
  [0, 0, 238],
  [205, 0, 205],
  [0, 205, 205],
  [229, 229, 229],
  [127, 127, 127],
  [255, 0, 0],
  [0, 255, 0],
  [255, 255, 0],
  [92, 92, 255],
  [255, 0, 255],
  [0, 255, 255],
  [255, 255, 255],
];

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

interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const plainStyle = (): Style => ({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
});

/** One array per style, shared by every run in it (100,000 lines need not make 100,000 arrays). */
const classCache = new Map<string, readonly string[]>();
const NO_CLASSES: readonly string[] = Object.freeze([]);

function classesOf(style: Style): readonly string[] {
  const key = `${style.fg ?? ''}/${style.bg ?? ''}/${+style.bold}${+style.dim}${+style.italic}${+style.underline}`;
  if (key === '//0000') return NO_CLASSES;
  let classes = classCache.get(key);
  if (classes === undefined) {
    const list: string[] = [];
    if (style.fg !== null) list.push(`ansi-fg-${COLOUR_NAMES[style.fg]}`);
    if (style.bg !== null) list.push(`ansi-bg-${COLOUR_NAMES[style.bg]}`);
    if (style.bold) list.push('ansi-bold');
    if (style.dim) list.push('ansi-dim');
    if (style.italic) list.push('ansi-italic');
    if (style.underline) list.push('ansi-underline');
    classes = Object.freeze(list);
    classCache.set(key, classes);
  }
  return classes;
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

/** Applies one SGR's parameters (`1;31`, `38;5;196`, `38:2::255:0:0`) to the style. */
function applySgr(params: string, style: Style): void {
  const list = params === '' ? [''] : params.split(';');
  for (let k = 0; k < list.length; k++) {
    const param = list[k]!;
    if (param.includes(':')) {
      applySubParams(param.split(':'), style);
      continue;
    }
    const n = param === '' ? 0 : Number(param);
    if (n === 38 || n === 48 || n === 58) {
      const mode = list[k + 1];
      const length = mode === '5' ? 1 : mode === '2' ? 3 : 0;
      const colour = length === 0 ? null : extendedColour(mode!, list.slice(k + 2, k + 2 + length));
      k += 1 + length;
      if (n === 38) style.fg = colour;
      else if (n === 48) style.bg = colour;
      continue;
    }
    applyCode(n, style);
  }
}

/** `38:5:n`, `38:2::r:g:b` (with or without the colour space), `4:0`. */
function applySubParams(parts: string[], style: Style): void {
  const n = Number(parts[0] || '0');
  if (n === 38 || n === 48) {
    const mode = parts[1] ?? '';
    const values = mode === '2' ? parts.slice(parts.length >= 6 ? 3 : 2) : parts.slice(2);
    const colour = extendedColour(mode, values);
    if (n === 38) style.fg = colour;
    else style.bg = colour;
  } else if (n === 4) {
    style.underline = parts[1] !== '0';
  }
}

function applyCode(n: number, style: Style): void {
  if (n === 0) Object.assign(style, plainStyle());
  else if (n === 1) style.bold = true;
  else if (n === 2) style.dim = true;
  else if (n === 3) style.italic = true;
  else if (n === 4) style.underline = true;
  else if (n === 22) style.bold = style.dim = false;
  else if (n === 23) style.italic = false;
  else if (n === 24) style.underline = false;
  else if (n >= 30 && n <= 37) style.fg = n - 30;
  else if (n === 39) style.fg = null;
  else if (n >= 40 && n <= 47) style.bg = n - 40;
  else if (n === 49) style.bg = null;
  else if (n >= 90 && n <= 97) style.fg = n - 90 + 8;
  else if (n >= 100 && n <= 107) style.bg = n - 100 + 8;
  // Blink, inverse, hidden, strike and fonts are not shown: hidden text in
  // particular stays visible, so nothing in a log can hide from its reader.
}

/** The palette colour nearest to a 256-colour (`5`, [n]) or true colour (`2`, [r, g, b]); null if invalid. */
function extendedColour(mode: string, values: string[]): number | null {
  const numbers = values.map((v) => (/^\d{1,3}$/.test(v) ? Number(v) : NaN));
  if (numbers.some((v) => !(v >= 0 && v <= 255))) return null;
  if (mode === '5' && numbers.length === 1) {
    const n = numbers[0]!;
    return n < 16 ? n : nearest(rgbOf256(n));
  }
  if (mode === '2' && numbers.length === 3) {
    return nearest([numbers[0]!, numbers[1]!, numbers[2]!]);
  }
  return null;
}

/** The RGB of an xterm colour 16–255: the 6×6×6 cube, then 24 greys. */
function rgbOf256(n: number): [number, number, number] {
  if (n >= 232) {
    const grey = 8 + 10 * (n - 232);
    return [grey, grey, grey];
  }
  const levels = [0, 95, 135, 175, 215, 255] as const;
  const index = n - 16;
  return [levels[Math.floor(index / 36)]!, levels[Math.floor(index / 6) % 6]!, levels[index % 6]!];
}

function nearest([r, g, b]: [number, number, number]): number {
  let best = 0;
  let bestDistance = Infinity;
  PALETTE.forEach(([pr, pg, pb], index) => {
    const distance = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
    if (distance < bestDistance) {
      best = index;
      bestDistance = distance;
    }
  });
  return best;
}
