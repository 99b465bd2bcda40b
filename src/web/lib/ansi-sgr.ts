/**
 * SGR, the one kind of escape step output keeps: a style (colours, bold, dim,
 * italic, underline) updated by each `ESC [ … m`, and the CSS classes of a
 * style, one shared array per style. 256 colours and true colour are matched
 * to the nearest of the 16 the stylesheet knows; an invalid one is dropped.
 *
 * @example
 *   const style = plainStyle();
 *   applySgr('1;38;5;196', style);
 *   classesOf(style); // ['ansi-fg-bright-red', 'ansi-bold']
 */

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

/** What SGR has set so far: a colour index 0–15 (or none) and the attributes. */
export interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

/** No colour, no attribute: where every text starts and `ESC [ 0 m` goes back to. */
export const plainStyle = (): Style => ({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
});

/** One array per style, shared by every run in it (100,000 lines need not make 100,000 arrays). */
const classCache = new Map<string, readonly string[]>();
/** The classes of plain text: shared, never changed. */
export const NO_CLASSES: readonly string[] = Object.freeze([]);

/** The CSS classes of a style (`ansi-fg-red`, `ansi-bold`), the same array for the same style. */
export function classesOf(style: Style): readonly string[] {
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

/** Applies one SGR's parameters (`1;31`, `38;5;196`, `38:2::255:0:0`) to the style. */
export function applySgr(params: string, style: Style): void {
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
