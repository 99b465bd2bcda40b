import { describe, expect, it } from 'vitest';
import { relativeTime } from './relative-time.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('relativeTime', () => {
  it('says how long ago, in the largest whole unit', () => {
    expect(relativeTime('2025-06-01T11:59:55Z', NOW)).toBe('just now');
    expect(relativeTime('2025-06-01T11:59:30Z', NOW)).toBe('30 seconds ago');
    expect(relativeTime('2025-06-01T11:59:00Z', NOW)).toBe('1 minute ago');
    expect(relativeTime('2025-06-01T09:00:00Z', NOW)).toBe('3 hours ago');
    expect(relativeTime('2025-05-30T12:00:00Z', NOW)).toBe('2 days ago');
    expect(relativeTime('2023-06-01T12:00:00Z', NOW)).toBe('2 years ago');
  });

  it('says how long until a time to come, and leaves text that is no time alone', () => {
    expect(relativeTime('2025-06-01T14:00:00Z', NOW)).toBe('in 2 hours');
    expect(relativeTime('not a time', NOW)).toBe('not a time');
  });
});
