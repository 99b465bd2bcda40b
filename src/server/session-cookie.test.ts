import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from './session-cookie.js';

const id = randomBytes(32).toString('base64url');

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Strict, for the whole server, with its lifetime; Secure over TLS', () => {
    expect(sessionCookie(id, { maxAgeSeconds: 43200, secure: false })).toBe(
      `ferry_session=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200`,
    );
    expect(sessionCookie(id, { maxAgeSeconds: 3600.7, secure: true })).toBe(
      `ferry_session=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure`,
    );
  });

  it('is cleared with Max-Age=0, Secure when the page came over TLS', () => {
    expect(clearedSessionCookie(false)).toBe(
      'ferry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
    );
    expect(clearedSessionCookie(true)).toBe(
      'ferry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure',
    );
  });

  it('never carries anything but a session id', () => {
    expect(() =>
      sessionCookie('a; Domain=evil.example', { maxAgeSeconds: 1, secure: false }),
    ).toThrow();
  });

  it('is read by its exact name, among other cookies', () => {
    expect(readSessionCookie(`theme=dark; ferry_session=${id}; lang=en`)).toBe(id);
    expect(readSessionCookie(`ferry_session=${id}`)).toBe(id);
    expect(readSessionCookie(undefined)).toBeUndefined();
    expect(readSessionCookie('')).toBeUndefined();
    for (const near of [
      'Ferry_session',
      'xferry_session',
      'ferry_session2',
      '__Host-ferry_session',
    ]) {
      expect(readSessionCookie(`${near}=${id}`), near).toBeUndefined();
    }
  });

  it('takes only a value shaped like an id: the first such when the name comes twice', () => {
    expect(readSessionCookie('ferry_session=short')).toBeUndefined();
    expect(readSessionCookie(`ferry_session=${id}x`)).toBeUndefined();
    expect(readSessionCookie(`ferry_session="${id}"`)).toBeUndefined();
    expect(readSessionCookie('ferry_session=')).toBeUndefined();
    const other = randomBytes(32).toString('base64url');
    expect(
      readSessionCookie(`ferry_session=bad; ferry_session=${id}; ferry_session=${other}`),
    ).toBe(id);
  });
});
