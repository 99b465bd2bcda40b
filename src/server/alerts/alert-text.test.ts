import { describe, expect, it } from 'vitest';
import { bytesText, clockText, failingText, spanText } from './alert-text.js';

describe('alert text', () => {
  it('says a span in its largest whole unit', () => {
    expect(
      [0, 1000, 59_999, 60_000, 150_000, 3_600_000, 7_300_000, 86_400_000 * 3].map(spanText),
    ).toEqual([
      '0 seconds',
      '1 second',
      '59 seconds',
      '1 minute',
      '2 minutes',
      '1 hour',
      '2 hours',
      '3 days',
    ]);
  });

  it("says a time of day, with its date when it is not today's", () => {
    const now = new Date('2026-12-06T15:00:00Z');
    expect(clockText('2026-12-06T14:02:31.000Z', now)).toBe('14:02 UTC');
    expect(clockText('2026-12-05T23:59:00.000Z', now)).toBe('2026-12-05 23:59 UTC');
  });

  it('says sizes as df -h does', () => {
    expect([512, 1536, 7.5 * 1024 ** 3].map(bytesText)).toEqual(['512 B', '1.5 KB', '7.5 GB']);
  });

  it('names the release, the host, since when, how long after its deployment, and the answer cut short', () => {
    const now = new Date('2026-12-06T15:00:00Z');
    const service = {
      app: 'cart',
      version: 12,
      host: 'prod-3',
      state: 'failing' as const,
      since: '2026-12-06T14:02:00.000Z',
      answer: 'HTTP 500\n  upstream  down',
      installed: { at: '2026-12-06T14:00:00.000Z', byDeployment: true },
    };
    expect(failingText(service, now)).toBe(
      'cart@12 on prod-3 fails its health check since 14:02 UTC, 2 minutes after it was deployed: HTTP 500 upstream down',
    );
    expect(failingText({ ...service, state: 'stopped', answer: null, installed: null }, now)).toBe(
      'cart@12 on prod-3 is stopped since 14:02 UTC',
    );
    const long = failingText({ ...service, answer: 'x'.repeat(1000) }, now);
    expect(long.endsWith(`: ${'x'.repeat(300)}…`)).toBe(true);
  });
});
