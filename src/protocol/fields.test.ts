import { describe, expect, it } from 'vitest';
import { bundleRefSchema } from './api.js';
import { commitSchema, countTextSchema, labelSchema, versionTextSchema } from './fields.js';

describe('versions as text', () => {
  it('reads plain digits only', () => {
    expect(versionTextSchema.parse('12')).toBe(12);
    for (const text of ['0x10', '1e3', ' 1', '1 ', '+1', '-1', '01', '1.0', '0', '', '１']) {
      expect(versionTextSchema.safeParse(text).success, text).toBe(false);
    }
    expect(versionTextSchema.safeParse('99999999999999999').success).toBe(false);
    expect(versionTextSchema.parse(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('does the same inside <app>@<version>', () => {
    expect(bundleRefSchema.parse('cart@12')).toEqual({ app: 'cart', version: 12 });
    for (const ref of ['cart@0x10', 'cart@1e3', 'cart@ 1', 'cart@99999999999999999999']) {
      expect(bundleRefSchema.safeParse(ref).success, ref).toBe(false);
    }
  });

  it('bounds counts', () => {
    expect(countTextSchema(1, 1000).parse('20')).toBe(20);
    for (const text of ['0', '1001', '0x10', '1e3']) {
      expect(countTextSchema(1, 1000).safeParse(text).success, text).toBe(false);
    }
  });
});

describe('labels and commits', () => {
  it('takes a real label and refuses control characters and length', () => {
    expect(labelSchema.parse('0.4.0.0 (rc 2) — “spring”')).toBe('0.4.0.0 (rc 2) — “spring”');
    for (const label of [
      '',
      'x'.repeat(101),
      'a\u001b[31m',
      'a\nb',
      'a\tb',
      'a\u202eb',
      'a\u0085b',
    ]) {
      expect(labelSchema.safeParse(label).success, JSON.stringify(label)).toBe(false);
    }
  });

  it('refuses a label that is not well-formed Unicode: it would be stored as another string', () => {
    expect(labelSchema.parse('v1 😀 e\u0301')).toBe('v1 😀 e\u0301');
    for (const label of ['v1\ud800', '\udc00v1', 'v1\ud83d', 'a\ude00\ud83db']) {
      const parsed = labelSchema.safeParse(label);
      expect(parsed.success, JSON.stringify(label)).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe(
        'expected a label of well-formed Unicode (it has half of a surrogate pair, which cannot be stored as it is)',
      );
    }
  });

  it('takes sha1 and sha256 commits in hex only', () => {
    expect(commitSchema.safeParse('a'.repeat(40)).success).toBe(true);
    expect(commitSchema.safeParse('0'.repeat(64)).success).toBe(true);
    for (const commit of ['A'.repeat(40), 'g'.repeat(40), 'a'.repeat(101), 'abc']) {
      expect(commitSchema.safeParse(commit).success, commit).toBe(false);
    }
  });
});
