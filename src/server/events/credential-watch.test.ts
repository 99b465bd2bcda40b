import { describe, expect, it } from 'vitest';
import type { ActiveSession, Store, StoredToken } from '../../store/store.js';
import { watchCredential } from './credential-watch.js';

const token: StoredToken = {
  id: 'tok_1',
  name: 'quinn',
  role: 'qa',
  env: null,
  createdAt: '2024-05-01T10:00:00.000Z',
  createdBy: null,
  lastUsedAt: null,
  revokedAt: null,
  hostId: null,
  tokenHash: 'h'.repeat(64),
  expiresAt: null,
  replaces: null,
};

function sessionEnding(inMs: number): ActiveSession {
  return {
    idHash: 's'.repeat(64),
    csrfToken: 'c',
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + inMs).toISOString(),
    token,
  };
}

/** No notices and no store: only the expiry timer can end these watches. */
const quiet = { store: {} as Store, events: { onLocal: () => () => true } };

describe('watching a stream’s credential', () => {
  it('ends a session that has expired already at once', () => {
    const reasons: string[] = [];
    watchCredential({ token, session: sessionEnding(-1) }, quiet, (r) => reasons.push(r));
    expect(reasons).toEqual(['its session expired']);
  });

  it('waits for an expiry further away than a timer can wait (sessions.ttlHours up to a year)', async () => {
    const reasons: string[] = [];
    // Node fires a longer timer after 1 ms, with this warning.
    const warnings: string[] = [];
    const warned = (warning: Error) => warnings.push(warning.name);
    process.on('warning', warned);
    const watch = watchCredential(
      { token, session: sessionEnding(300 * 24 * 3600 * 1000) },
      quiet,
      (r) => reasons.push(r),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    watch.close();
    process.off('warning', warned);
    expect(reasons).toEqual([]);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('ends once, at the expiry, and not after it was closed', async () => {
    const reasons: string[] = [];
    const closed = watchCredential({ token, session: sessionEnding(50) }, quiet, () =>
      reasons.push('closed one ended'),
    );
    closed.close();
    const session = sessionEnding(50);
    await new Promise<void>((resolve) =>
      watchCredential({ token, session }, quiet, (r) => {
        reasons.push(r);
        resolve();
      }),
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(session.expiresAt));
    // The closed one's time has come too: it stays quiet.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reasons).toEqual(['its session expired']);
  });
});
