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

  it('refuses a day, hour or zone that does not exist rather than rolling it over', () => {
    expect(sinceTime('2028-02-29', now)).toBe('2028-02-29T00:00:00.000Z');
    expect(sinceTime('2026-12-31T23:59:59.999+14:00', now)).toBe('2026-12-31T09:59:59.999Z');
    for (const text of [
      '2026-02-30',
      '2026-02-29',
      '2026-04-31',
      '2026-00-10',
      '2026-12-00',
      '2026-12-01T24:00',
      '2026-12-01T08:60',
      '2026-12-01T08:00:60',
      '2026-12-01T08:00+24:00',
      '2026-12-01T08:00+02:60',
      '0000-01-01',
    ]) {
      expect(() => sinceTime(text, now), text).toThrow(FerryError);
      expect(() => sinceTime(text, now), text).toThrow(/--since/);
    }
  });

  it('refuses a span back from now beyond 100 years, naming the option', () => {
    expect(sinceTime('5200w', now)).toBe('1927-04-10T10:00:00.000Z');
    for (const text of ['999999w', '999999d', '5300w', '36600d']) {
      expect(() => sinceTime(text, now)).toThrow(FerryError);
      expect(() => sinceTime(text, now)).toThrow(/--since/);
    }
  });
});
