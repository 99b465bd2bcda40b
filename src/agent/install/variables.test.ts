import { describe, expect, it } from 'vitest';
import { FerryError } from '../../protocol/errors.js';
import { fillVariables, referencesIn } from './variables.js';

describe('fillVariables', () => {
  it('fills references deep inside a manifest section', () => {
    const filled = fillVariables(
      { service: { env: { PORT: '${PORT}' } }, install: ['echo ${A}-${A}'], keep: 3 },
      { PORT: '8080', A: 'x' },
    );
    expect(filled).toEqual({ service: { env: { PORT: '8080' } }, install: ['echo x-x'], keep: 3 });
  });

  it('names every missing variable at once', () => {
    try {
      fillVariables({ a: '${B} ${A}', b: ['${B}'] }, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('E_VARIABLE_MISSING');
      expect((err as FerryError).details).toEqual({ variables: ['A', 'B'] });
    }
  });

  it('lists references', () => {
    expect(referencesIn('http://${HOST}:${PORT}/')).toEqual(['HOST', 'PORT']);
  });
});
