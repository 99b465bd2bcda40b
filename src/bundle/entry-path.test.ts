import { describe, expect, it } from 'vitest';
import { resolveLinkTarget, unsafeEntryPath } from './entry-path.js';

describe('unsafeEntryPath', () => {
  it.each([
    ['lib/index.js', undefined],
    ['/etc/passwd', 'is absolute'],
    ['../x', 'has a ".." segment'],
    ['a/../../x', 'has a ".." segment'],
    ['a/./b', 'has a "." segment'],
    ['a//b', 'has an empty segment'],
    ['a\\b', 'contains a backslash'],
    ['a\0b', 'contains a NUL byte'],
  ])('%s', (entry, reason) => {
    expect(unsafeEntryPath(entry)).toBe(reason);
  });
});

describe('resolveLinkTarget', () => {
  it('resolves links that stay inside', () => {
    expect(resolveLinkTarget('index.js', 'lib/a.js')).toBe('lib/a.js');
    expect(resolveLinkTarget('lib/a/b', '../c')).toBe('lib/c');
    expect(resolveLinkTarget('lib/x', '..')).toBe('');
  });

  it('refuses links that leave', () => {
    expect(resolveLinkTarget('x', '../etc')).toBeUndefined();
    expect(resolveLinkTarget('lib/x', '../../etc')).toBeUndefined();
    expect(resolveLinkTarget('x', '/etc')).toBeUndefined();
  });

  it('refuses a ".." taken after passing through another link', () => {
    const links = new Set(['q']);
    // q -> . and p -> q/.. : lexically "", but on disk the parent of the root.
    expect(resolveLinkTarget('q', '.', (p) => links.has(p))).toBe('');
    expect(resolveLinkTarget('p', 'q/..', (p) => links.has(p))).toBeUndefined();
    expect(resolveLinkTarget('p', 'q/x', (p) => links.has(p))).toBe('q/x');
  });
});
