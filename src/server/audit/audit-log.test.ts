import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { AuditStore, NewAuditEntry } from '../../store/store.js';
import { AuditLog, MAX_AUDIT_WRITES_WAITING } from './audit-log.js';

/** A refusal without a valid credential, or (with a name) one of a token. */
function refusal(at: number, name?: string, outcome = 'E_AUTH_REQUIRED'): NewAuditEntry {
  return {
    at: new Date(at).toISOString(),
    who: name === undefined ? null : { tokenId: `tok_${name}`, name, role: 'qa', via: 'token' },
    from: '203.0.113.9',
    action: 'createToken',
    method: 'POST',
    path: '/tokens',
    target: {},
    status: name === undefined ? 401 : 403,
    outcome: name === undefined ? outcome : 'E_FORBIDDEN',
  };
}

/** A store that keeps what it is given, and can be made to stall (a fault). */
function storeOf(written: NewAuditEntry[], stalled?: Promise<void>): AuditStore {
  return {
    record: async (entry) => {
      if (stalled) await stalled;
      written.push(entry);
    },
    list: () => Promise.resolve([]),
    prune: () => Promise.resolve(0),
  };
}

/** The error lines logged, as the server's log would have them. */
function loggerOf(errors: string[]): FastifyBaseLogger {
  const noop = () => undefined;
  return {
    error: (_context: unknown, message: string) => void errors.push(message),
    info: noop,
    warn: noop,
    debug: noop,
  } as unknown as FastifyBaseLogger;
}

describe('AuditLog', () => {
  it('coalesces refusals without a credential: the first, then one a minute with their count', async () => {
    const written: NewAuditEntry[] = [];
    let now = Date.parse('2026-12-06T10:00:00.000Z');
    const log = new AuditLog(storeOf(written), loggerOf([]), 365, () => now);
    for (let i = 0; i < 2000; i++) log.record(refusal(now + i));
    log.record(refusal(now, undefined, 'E_AUTH_INVALID'));
    log.record(refusal(now, 'alice'));
    log.record(refusal(now, 'alice'));
    log.flush(); // the minute has not run out: nothing more
    await log.idle();
    expect(written.map((e) => [e.outcome, e.count ?? 1])).toEqual([
      ['E_AUTH_REQUIRED', 1],
      ['E_AUTH_INVALID', 1],
      ['E_FORBIDDEN', 1],
      ['E_FORBIDDEN', 1],
    ]);

    now += 60_000;
    log.flush();
    await log.idle();
    // The newest of the 1,999 held, standing for them all.
    expect(written.slice(4)).toEqual([{ ...refusal(now - 60_000 + 1999), count: 1999 }]);

    now += 1000;
    log.record(refusal(now));
    log.flush();
    await log.idle();
    expect(written).toHaveLength(5);
    await log.stop(); // stopping writes what is held
    expect(written.slice(5)).toEqual([{ ...refusal(now), count: 1 }]);
    expect(written.reduce((sum, e) => sum + (e.count ?? 1), 0)).toBe(2004);
  });

  it('drops entries beyond the writes waiting on the store, and says how many', async () => {
    const written: NewAuditEntry[] = [];
    const errors: string[] = [];
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const log = new AuditLog(storeOf(written, stalled), loggerOf(errors), 365);
    for (let i = 0; i < MAX_AUDIT_WRITES_WAITING + 10; i++) log.record(refusal(i, `t${i}`));
    expect(errors).toEqual([]);
    release();
    await log.idle();
    expect(written).toHaveLength(MAX_AUDIT_WRITES_WAITING);
    log.record(refusal(0, 'after'));
    await log.idle();
    expect(written).toHaveLength(MAX_AUDIT_WRITES_WAITING + 1);
    expect(errors).toEqual([
      `the audit log dropped 10 entries: ${MAX_AUDIT_WRITES_WAITING} writes were waiting on the store`,
    ]);
  });
});
