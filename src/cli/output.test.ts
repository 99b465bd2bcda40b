import { describe, expect, it } from 'vitest';
import { printable } from './output.js';

describe('printable', () => {
  it('shows every control character as its escape and leaves the rest alone', () => {
    expect(printable('cart 0.4.0 — “ok”')).toBe('cart 0.4.0 — “ok”');
    expect(printable('\u001b[2Jred\u0007')).toBe('\\u001b[2Jred\\u0007');
    expect(printable('a\r\nb\tc\u007f')).toBe('a\\u000d\\u000ab\\u0009c\\u007f');
    expect(printable('rtl\u202eevil\u009b')).toBe('rtl\\u202eevil\\u009b');
  });
});
