import { describe, expect, it } from 'vitest';
import { nextPath, signInPath } from './sign-in-path.js';

describe('signInPath and nextPath', () => {
  it('remember where the person was headed, and go back there', () => {
    const path = signInPath('/apps/cart?tab=1');
    expect(path).toBe('/sign-in?next=%2Fapps%2Fcart%3Ftab%3D1');
    expect(nextPath(new URL(path, 'http://x').search)).toBe('/apps/cart?tab=1');
    expect(signInPath('/')).toBe('/sign-in');
    expect(nextPath('')).toBe('/');
  });

  it('never send anyone to another site, nor back to the sign-in page', () => {
    for (const next of [
      '//evil.example/x',
      'https://evil.example/',
      '/\\evil.example',
      'javascript:alert(1)',
    ]) {
      expect(nextPath(`?next=${encodeURIComponent(next)}`)).toBe('/');
    }
    expect(nextPath('?next=%2Fsign-in%3Fnext%3D%252F')).toBe('/');
  });
});
