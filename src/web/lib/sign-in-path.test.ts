import { describe, expect, it } from 'vitest';
import { nextPath, signInPath } from './sign-in-path.js';

const ORIGIN = 'https://ferry.example:8443';

describe('signInPath and nextPath', () => {
  it('remember where the person was headed, and go back there', () => {
    const path = signInPath('/apps/cart?tab=1');
    expect(path).toBe('/sign-in?next=%2Fapps%2Fcart%3Ftab%3D1');
    expect(nextPath(new URL(path, ORIGIN).search, ORIGIN)).toBe('/apps/cart?tab=1');
    expect(signInPath('/')).toBe('/sign-in');
    expect(nextPath('', ORIGIN)).toBe('/');
  });

  it('never send anyone to another site, nor back to the sign-in page', () => {
    for (const next of [
      '//evil.example/x',
      'https://evil.example/',
      '/\\evil.example',
      'javascript:alert(1)',
      // A browser drops tabs and newlines from a URL, and reads a backslash as a slash:
      // each of these is //evil.example/x once it has.
      '/\t/evil.example/x',
      '/\n/evil.example/x',
      '/\r\n/evil.example/x',
      '\t//evil.example/x',
      '/\t\\evil.example/x',
      '\\/evil.example/x',
      '/%09/evil.example/x',
    ]) {
      const answer = nextPath(`?next=${encodeURIComponent(next)}`, ORIGIN);
      expect([next, answer]).toEqual([next, expect.stringMatching(/^\/(?!\/)/)]);
      expect(new URL(answer, ORIGIN).origin, JSON.stringify(next)).toBe(ORIGIN);
    }
    expect(nextPath('?next=%2F%09%2Fevil.example%2Fx', ORIGIN)).toBe('/');
    expect(nextPath('?next=%2Fsign-in%3Fnext%3D%252F', ORIGIN)).toBe('/');
  });

  it('answer the path as the browser reads it, which is the one that was checked', () => {
    expect(nextPath(`?next=${encodeURIComponent('/apps/\tcart')}`, ORIGIN)).toBe('/apps/cart');
    expect(nextPath(`?next=${encodeURIComponent('/apps/../hosts?q=a b#x')}`, ORIGIN)).toBe(
      '/hosts?q=a%20b#x',
    );
    expect(nextPath(`?next=${encodeURIComponent('/\\hosts')}`, ORIGIN)).toBe('/');
    expect(nextPath(`?next=${encodeURIComponent('/sign-in/../sign-in')}`, ORIGIN)).toBe('/');
  });
});
