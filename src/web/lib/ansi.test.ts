import { describe, expect, it } from 'vitest';
import { lineText, MAX_RUNS_PER_LINE, parseAnsi, parseAnsiLines, stripAnsi } from './ansi.js';

const ESC = '\x1b';

describe('parseAnsiLines', () => {
  it('reads plain text into one run per line, with no empty line after a final newline', () => {
    expect(parseAnsiLines('one\ntwo\r\n\nfour\n')).toEqual([
      [{ text: 'one', classes: [] }],
      [{ text: 'two', classes: [] }],
      [],
      [{ text: 'four', classes: [] }],
    ]);
    expect(parseAnsiLines('')).toEqual([]);
  });

  it('gives colours, bright colours, backgrounds and attributes their classes, and reset ends them', () => {
    const [line] = parseAnsiLines(
      `${ESC}[1;31merror${ESC}[0m: ${ESC}[92mok${ESC}[39m ${ESC}[44;2;3;4mnote${ESC}[m plain ${ESC}[101mbg`,
    );
    expect(line).toEqual([
      { text: 'error', classes: ['ansi-fg-red', 'ansi-bold'] },
      { text: ': ', classes: [] },
      { text: 'ok', classes: ['ansi-fg-bright-green'] },
      { text: ' ', classes: [] },
      {
        text: 'note',
        classes: ['ansi-bg-blue', 'ansi-dim', 'ansi-italic', 'ansi-underline'],
      },
      { text: ' plain ', classes: [] },
      { text: 'bg', classes: ['ansi-bg-bright-red'] },
    ]);
  });

  it('turns attributes off one by one (22, 23, 24, 49)', () => {
    const [line] = parseAnsiLines(`${ESC}[1;3;4;41ma${ESC}[22mb${ESC}[23mc${ESC}[24md${ESC}[49me`);
    expect(line!.map((r) => [r.text, r.classes.join(' ')])).toEqual([
      ['a', 'ansi-bg-red ansi-bold ansi-italic ansi-underline'],
      ['b', 'ansi-bg-red ansi-italic ansi-underline'],
      ['c', 'ansi-bg-red ansi-underline'],
      ['d', 'ansi-bg-red'],
      ['e', ''],
    ]);
  });

  it('maps 256 colours and true colour to the nearest of the 16, and drops invalid ones', () => {
    const classes = (seq: string) => parseAnsiLines(`${ESC}[${seq}mx`)[0]![0]!.classes;
    expect(classes('38;5;1')).toEqual(['ansi-fg-red']);
    expect(classes('38;5;196')).toEqual(['ansi-fg-bright-red']);
    expect(classes('38;5;232')).toEqual(['ansi-fg-black']);
    expect(classes('48;5;231')).toEqual(['ansi-bg-bright-white']);
    expect(classes('48;5;250')).toEqual(['ansi-bg-white']);
    expect(classes('38;2;0;200;10')).toEqual(['ansi-fg-green']);
    expect(classes('38:2::250:250:0')).toEqual(['ansi-fg-bright-yellow']);
    expect(classes('38:5:4')).toEqual(['ansi-fg-blue']);
    expect(classes('38;5;999')).toEqual([]);
    expect(classes('38;2;300;0;0')).toEqual([]);
    // The parameters of an extended colour are not read as codes of their own.
    expect(classes('38;5;1;4')).toEqual(['ansi-fg-red', 'ansi-underline']);
    expect(classes('38;2;1;4;3')).toEqual(['ansi-fg-black']);
  });

  it('carries the style from one line to the next, as a terminal does', () => {
    const lines = parseAnsiLines(`${ESC}[33mwarn\nstill yellow${ESC}[0m\nplain`);
    expect(lines.map((l) => l[0]!.classes)).toEqual([['ansi-fg-yellow'], ['ansi-fg-yellow'], []]);
  });

  it('removes every escape that is not SGR: cursor moves, erases, titles, charsets, modes', () => {
    const text =
      `${ESC}[2J${ESC}[H${ESC}[10;5Ha${ESC}[Kb${ESC}[?25lc${ESC}]0;title${ESC}\\d` +
      `${ESC}]2;other title\x07e${ESC}(Bf${ESC}7g${ESC}=h${ESC}Pdevice${ESC}\\i${ESC}[>4;2mj\x9b31mk`;
    expect(parseAnsiLines(text)).toEqual([
      [
        { text: 'abcdefghij', classes: [] },
        { text: 'k', classes: ['ansi-fg-red'] },
      ],
    ]);
  });

  it('keeps the text of an OSC 8 link and drops its target', () => {
    const text = `see ${ESC}]8;;javascript:alert(1)\x07x${ESC}]8;;\x07 and ${ESC}]8;id=1;https://e.x${ESC}\\y${ESC}]8;;${ESC}\\`;
    expect(stripAnsi(text)).toBe('see x and y');
    expect(JSON.stringify(parseAnsiLines(text))).not.toMatch(/javascript|https/);
  });

  it('keeps what follows the last \\r of a line (a progress bar), but not an empty overwrite', () => {
    expect(stripAnsi('10%\r50%\r100%\ndone')).toBe('100%\ndone');
    expect(stripAnsi('kept\r')).toBe('kept');
    expect(stripAnsi('kept\r\r\nnext')).toBe('kept\nnext');
    expect(stripAnsi(`kept\r${ESC}[0m`)).toBe('kept');
    // The style set before the overwrite still holds after it.
    expect(parseAnsiLines(`${ESC}[32mold\rnew`)).toEqual([
      [{ text: 'new', classes: ['ansi-fg-green'] }],
    ]);
  });

  it('leaves HTML as text: a <script> is characters, not markup', () => {
    const text = `${ESC}[31m<script>alert(1)</script>${ESC}[0m <img src=x onerror=alert(2)>`;
    expect(parseAnsiLines(text)).toEqual([
      [
        { text: '<script>alert(1)</script>', classes: ['ansi-fg-red'] },
        { text: ' <img src=x onerror=alert(2)>', classes: [] },
      ],
    ]);
  });

  it('drops a sequence cut short at the end of the text or of a line, and keeps what follows', () => {
    expect(stripAnsi(`done${ESC}`)).toBe('done');
    expect(stripAnsi(`done${ESC}[`)).toBe('done');
    expect(stripAnsi(`done${ESC}[1;3`)).toBe('done');
    expect(stripAnsi(`done${ESC}]0;tit`)).toBe('done');
    expect(stripAnsi(`a${ESC}]0;no end\nb`)).toBe('a\nb');
    expect(stripAnsi(`a${ESC}[12\x01b`)).toBe('ab');
    expect(stripAnsi(`a${ESC}[31\u00e9b`)).toBe('a\u00e9b');
  });

  it('drops other controls, keeps tabs, and shows bidi and line separators escaped', () => {
    expect(stripAnsi('a\x00b\x08c\x7fd\x85e\tf')).toBe('abcde\tf');
    expect(stripAnsi('evil\u202Etxt.exe\u2028x')).toBe('evil\\u202etxt.exe\\u2028x');
  });

  it('keeps a hostile line that changes colour on every character to a bounded number of runs', () => {
    const line = Array.from({ length: 5000 }, (_, i) => `${ESC}[3${i % 8}m${i % 10}`).join('');
    const [runs] = parseAnsiLines(line);
    expect(runs!.length).toBe(MAX_RUNS_PER_LINE);
    expect(lineText(runs!)).toBe(Array.from({ length: 5000 }, (_, i) => i % 10).join(''));
  });

  it('reads 5 MB of coloured output, and a megabyte of broken sequences, line for line', () => {
    const line = `${ESC}[32m✓${ESC}[0m step ${'x'.repeat(40)} ${ESC}[2mdone in 3 ms${ESC}[22m\n`;
    const big = line.repeat(Math.ceil((5 * 1024 * 1024) / line.length));
    const lines = parseAnsiLines(big);
    expect(lines.length).toBe(Math.ceil((5 * 1024 * 1024) / line.length));
    expect(lineText(lines[lines.length - 1]!)).toBe(`✓ step ${'x'.repeat(40)} done in 3 ms`);

    const broken = `${ESC}[1;`.repeat(500_000) + '\x07end';
    expect(stripAnsi(broken)).toBe('end');
    const unclosed = `${ESC}]`.repeat(500_000) + '\nend';
    expect(stripAnsi(unclosed)).toBe('\nend');
  });
});

describe('parseAnsi', () => {
  it('gives one list of runs with the newlines between lines', () => {
    expect(parseAnsi(`a\n${ESC}[31mb`)).toEqual([
      { text: 'a', classes: [] },
      { text: '\n', classes: [] },
      { text: 'b', classes: ['ansi-fg-red'] },
    ]);
  });
});
