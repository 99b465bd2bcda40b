import { describe, expect, it } from 'vitest';
import { SECRET_MASK, SecretMasker } from './secret-masker.js';

describe('SecretMasker', () => {
  const secret = 'line-one-of-it\nline-two-of-it';
  const text = `before ${secret} between ${secret}\nafter`;
  const expected = `before ${SECRET_MASK} between ${SECRET_MASK}\nafter`;

  it('masks a stream split at every position, whatever the pieces', () => {
    const masker = new SecretMasker([secret, 'x']);
    for (let cut = 0; cut <= text.length; cut += 1) {
      const stream = masker.stream();
      const out = stream.push(text.slice(0, cut)) + stream.push(text.slice(cut)) + stream.end();
      expect(out.replaceAll('x', '')).not.toContain('line-');
    }
    expect(new SecretMasker([secret]).mask(text)).toBe(expected);
  });

  it('masks each long line of a multi-line secret on its own, and the value with CRLF', () => {
    const masker = new SecretMasker([`${secret}\n}`]);
    expect(masker.mask('> line-two-of-it <')).toBe(`> ${SECRET_MASK} <`);
    expect(masker.mask(`${secret.replace('\n', '\r\n')}\r\n}`)).toBe(SECRET_MASK);
    // A short line alone is not a secret worth masking everywhere.
    expect(masker.mask('{ }')).toBe('{ }');
  });

  it('passes text through untouched and at once when there is nothing to mask', () => {
    const stream = new SecretMasker(['']).stream();
    expect(stream.push('partial')).toBe('partial');
    expect(stream.end()).toBe('');
  });

  it("takes a secret's characters literally, regular-expression characters too", () => {
    const secret = 'p.a*s+s?(w)[o]{r}|d^$\\';
    const masker = new SecretMasker([secret, 'a.b']);
    expect(masker.mask(`x=${secret};`)).toBe('x=••••;');
    // '.' is not any character.
    expect(masker.mask('aXb a.b')).toBe('aXb ••••');
    const stream = masker.stream();
    expect(
      stream.push(`y=${secret.slice(0, 5)}`) + stream.push(secret.slice(5)) + stream.end(),
    ).toBe('y=••••');
  });

  it('masks the longest of two secrets that begin alike', () => {
    const masker = new SecretMasker(['abc', 'abcdef']);
    expect(masker.mask('abcdef abc abcde')).toBe('•••• •••• ••••de');
  });
});
