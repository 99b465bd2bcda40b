import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, FerryError } from './errors.js';

describe('error catalogue', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it.each(Object.entries(ERROR_CATALOGUE))(
    'documents %s with its HTTP status',
    (code, { status }) => {
      expect(doc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    },
  );

  it('puts code, message and details on the wire', () => {
    const error = new FerryError('E_BUNDLE_NOT_FOUND', 'cart@12 does not exist', { app: 'cart' });
    expect(error.status).toBe(404);
    expect(error.toBody()).toEqual({
      code: 'E_BUNDLE_NOT_FOUND',
      message: 'cart@12 does not exist',
      details: { app: 'cart' },
    });
  });
});
