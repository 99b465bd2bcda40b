import { describe, expect, it } from 'vitest';
import { auditTargetOf } from './audit-target.js';

const none = { params: undefined, query: undefined, body: undefined, answer: undefined };

describe('auditTargetOf', () => {
  it('reads each part from the first of its sources that has a value, inside objects', () => {
    expect(
      auditTargetOf(
        {
          target: {
            app: 'body.on.app',
            version: ['answer.version', 'body.to'],
            env: 'query.env',
            id: 'params.id',
          },
        },
        {
          params: { id: '12' },
          query: { env: 'prod' },
          body: { on: { kind: 'bundle', app: 'cart' }, to: 3 },
          answer: undefined,
        },
      ),
    ).toEqual({ app: 'cart', version: 3, env: 'prod', id: '12' });
  });

  it('never reads a field named like a secret, whatever the declaration says', () => {
    const body = { name: 'DB_PASSWORD', value: 's3cret', token: 'ferry_admin_x', nested: {} };
    expect(
      auditTargetOf(
        { target: { name: ['body.value', 'body.token', 'body.name'], id: 'answer.token' } },
        { ...none, body, answer: { token: 'ferry_agent_y' } },
      ),
    ).toEqual({ name: 'DB_PASSWORD' });
    expect(
      auditTargetOf({ target: { name: 'body.Token' } }, { ...none, body: { Token: 'x' } }),
    ).toEqual({});
  });

  it('keeps only texts and numbers, texts cut at 200 characters, and nothing inherited', () => {
    const body = Object.assign(Object.create({ app: 'inherited' }) as object, {});
    expect(auditTargetOf({ target: { app: 'body.app' } }, { ...none, body })).toEqual({});
    expect(
      auditTargetOf(
        { target: { name: 'body.name', app: 'body.app', env: 'body.env', id: 'body.id' } },
        { ...none, body: { name: 'x'.repeat(500), app: { a: 1 }, env: '', id: Number.NaN } },
      ),
    ).toEqual({ name: 'x'.repeat(200) });
  });

  it('reads nothing from a body that is a stream or a list', () => {
    const declaration = { target: { app: 'body.app' } } as const;
    expect(auditTargetOf(declaration, { ...none, body: [{ app: 'cart' }] })).toEqual({});
    expect(auditTargetOf(declaration, { ...none, body: new Map([['app', 'cart']]) })).toEqual({});
  });

  it("reads the router's parameters, whose prototype has no prototype", () => {
    class NullObject {}
    Object.setPrototypeOf(NullObject.prototype, null);
    const params = Object.assign(new NullObject(), { name: 'qa-1' });
    expect(auditTargetOf({ target: { host: 'params.name' } }, { ...none, params })).toEqual({
      host: 'qa-1',
    });
  });

  it('names a write without a declaration by its path parameters', () => {
    expect(
      auditTargetOf(undefined, {
        ...none,
        params: { app: 'cart', version: '12', other: 'x' },
        body: { env: 'prod' },
      }),
    ).toEqual({ app: 'cart', version: '12' });
  });
});
