import { describe, expect, it } from 'vitest';
import { isStorageFull, storageFullError } from './storage-full.js';

const withCode = (code: string) => Object.assign(new Error('write failed'), { code });

describe('isStorageFull', () => {
  it.each(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100'])('knows %s for a full disk', (code) => {
    expect(isStorageFull(withCode(code))).toBe(true);
  });

  it.each(['EACCES', 'SQLITE_BUSY', '23505', undefined])('does not take %s for one', (code) => {
    expect(isStorageFull(code === undefined ? new Error('x') : withCode(code))).toBe(false);
    expect(isStorageFull(null)).toBe(false);
  });

  it('makes a 507 E_STORAGE_FULL that keeps the cause', () => {
    const cause = withCode('53100');
    const error = storageFullError(cause, 'the request');
    expect(error.code).toBe('E_STORAGE_FULL');
    expect(error.status).toBe(507);
    expect(error.cause).toBe(cause);
  });
});
