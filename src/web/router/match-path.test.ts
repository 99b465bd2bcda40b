import { describe, expect, it } from 'vitest';
import { matchPath } from './match-path.js';

describe('matchPath', () => {
  it('matches the root and fixed paths, with or without a trailing slash', () => {
    expect(matchPath('/', '/')).toEqual({});
    expect(matchPath('/activity', '/activity')).toEqual({});
    expect(matchPath('/activity', '/activity/')).toEqual({});
    expect(matchPath('/', '/activity')).toBeNull();
    expect(matchPath('/hosts', '/hosts/qa-1')).toBeNull();
  });

  it('gives each :param its decoded segment', () => {
    expect(matchPath('/apps/:app', '/apps/cart')).toEqual({ app: 'cart' });
    expect(matchPath('/reports/:app/:version', '/reports/cart/12')).toEqual({
      app: 'cart',
      version: '12',
    });
    expect(matchPath('/hosts/:name', '/hosts/web%201')).toEqual({ name: 'web 1' });
  });

  it('refuses an empty, extra or badly encoded segment', () => {
    expect(matchPath('/apps/:app', '/apps/')).toBeNull();
    expect(matchPath('/apps/:app', '/apps/cart/more')).toBeNull();
    expect(matchPath('/apps/:app', '/apps/%E0%A4%A')).toBeNull();
    expect(matchPath('/deployments/:id', '/deployment/dep_1')).toBeNull();
  });
});
