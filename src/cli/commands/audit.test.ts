import { describe, expect, it } from 'vitest';
import { FerryError } from '../../protocol/errors.js';
import { sinceTime } from './audit.js';

describe('ferry audit --since', () => {
  const now = Date.parse('2026-12-06T10:00:00.000Z');

  it('reads a span back from now', () => {
    expect(sinceTime('30m', now)).toBe('2026-12-06T09:30:00.000Z');
    expect(sinceTime('12h', now)).toBe('2026-12-05T22:00:00.000Z');
    expect(sinceTime('7d', now)).toBe('2026-11-29T10:00:00.000Z');
    expect(sinceTime('2w', now)).toBe('2026-11-22T10:00:00.000Z');
  });

  it('reads an ISO 8601 time, UTC unless it says otherwise', () => {
    expect(sinceTime('2026-12-01', now)).toBe('2026-12-01T00:00:00.000Z');
    expect(sinceTime('2026-12-01T08:00:00+02:00', now)).toBe('2026-12-01T06:00:00.000Z');
    expect(sinceTime('2026-12-01 08:00', now)).toBe('2026-12-01T08:00:00.000Z');
    expect(sinceTime('2026-12-01T08:00:00.5', now)).toBe('2026-12-01T08:00:00.500Z');
  });

  it('refuses anything else, naming the option', () => {
    for (const text of ['yesterday', '7 days', '2026-13-45', '-1d']) {
      expect(() => sinceTime(text, now)).toThrow(FerryError);
      expect(() => sinceTime(text, now)).toThrow(/--since/);
    }
  });
});
