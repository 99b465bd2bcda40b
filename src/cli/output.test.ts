import { describe, expect, it } from 'vitest';
import { CONTROL_CHARACTERS, jsonText } from '../protocol/fields.js';
import { printable } from './output.js';

describe('printable', () => {
  it('shows every control character as its escape and leaves the rest alone', () => {
    expect(printable('cart 0.4.0 — “ok”')).toBe('cart 0.4.0 — “ok”');
    expect(printable('\u001b[2Jred\u0007')).toBe('\\u001b[2Jred\\u0007');
    expect(printable('a\r\nb\tc\u007f')).toBe('a\\u000d\\u000ab\\u0009c\\u007f');
    expect(printable('rtl\u202eevil\u009b')).toBe('rtl\\u202eevil\\u009b');
  });
});

describe('jsonText', () => {
  it('escapes C1 controls, line separators and bidi overrides too, and reads back the same', () => {
    const value = { os: 'Ubuntu\u009b2J\u202eevil\u2028x\u2066', esc: '\u001b[31m', lines: 'a\nb' };
    const text = jsonText(value);
    // Nothing a terminal would act on is left but the indentation's newlines.
    expect(CONTROL_CHARACTERS.test(text.replace(/\n/g, ''))).toBe(false);
    expect(text).toContain('Ubuntu\\u009b2J\\u202eevil\\u2028x\\u2066');
    expect(JSON.parse(text)).toEqual(value);
  });
});
