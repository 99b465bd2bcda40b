import { describe, expect, it } from 'vitest';
import { mayCall, mayChangeEnvironment, mayPromote, mayRollBackWhenFailed } from './permissions.js';

const prod = { name: 'prod', protected: true };
const qa = { name: 'qa', protected: false };

describe('mayCall', () => {
  it('follows the roles the route declares', () => {
    expect(mayCall('markVerdict', { role: 'qa', env: null })).toEqual({ allowed: true });
    expect(mayCall('markVerdict', { role: 'deployer', env: null })).toEqual({
      allowed: false,
      reason: 'needs qa or admin — you are deployer',
    });
    expect(mayCall('promote', { role: 'qa', env: null })).toEqual({
      allowed: false,
      reason: 'needs admin or deployer — you are qa',
    });
    expect(mayCall('createToken', { role: 'deployer', env: null })).toEqual({
      allowed: false,
      reason: 'needs admin — you are deployer',
    });
    expect(mayCall('health', { role: 'qa', env: null })).toEqual({ allowed: true });
  });
});

describe('mayChangeEnvironment', () => {
  it('lets an admin anywhere, a deployer only where it is not protected', () => {
    expect(mayChangeEnvironment('rollback', { role: 'admin', env: null }, prod).allowed).toBe(true);
    expect(mayChangeEnvironment('rollback', { role: 'deployer', env: null }, qa).allowed).toBe(
      true,
    );
    expect(mayChangeEnvironment('promote', { role: 'deployer', env: null }, prod)).toEqual({
      allowed: false,
      reason: 'prod is protected: admin only',
    });
  });

  it('names the role first when the role may not at all', () => {
    expect(mayChangeEnvironment('promote', { role: 'qa', env: null }, prod)).toEqual({
      allowed: false,
      reason: 'needs admin or deployer — you are qa',
    });
  });

  it('keeps a token bound to an environment in it', () => {
    expect(mayChangeEnvironment('deploy', { role: 'deployer', env: 'qa' }, qa).allowed).toBe(true);
    expect(mayChangeEnvironment('deploy', { role: 'deployer', env: 'dev' }, qa)).toEqual({
      allowed: false,
      reason: 'your token is for dev only',
    });
  });
});

describe('mayPromote', () => {
  const prodNeedsPassed = { ...prod, requires: 'passed' };
  it('asks the verdict the environment requires, after the role and protection', () => {
    expect(mayPromote({ role: 'admin', env: null }, prodNeedsPassed, 'passed').allowed).toBe(true);
    expect(mayPromote({ role: 'admin', env: null }, prodNeedsPassed, 'pending')).toEqual({
      allowed: false,
      reason: 'prod takes only bundles marked passed — this one is pending',
    });
    expect(mayPromote({ role: 'deployer', env: null }, prodNeedsPassed, 'failed')).toEqual({
      allowed: false,
      reason: 'prod is protected: admin only',
    });
    expect(
      mayPromote({ role: 'deployer', env: null }, { ...qa, requires: null }, 'failed').allowed,
    ).toBe(true);
  });
});

describe('mayRollBackWhenFailed', () => {
  it('offers the rollback only to whom may roll back in every environment where the bundle is desired', () => {
    const qaPerson = { role: 'qa' as const, env: null };
    const admin = { role: 'admin' as const, env: null };
    const deployer = { role: 'deployer' as const, env: null };
    expect(mayRollBackWhenFailed(admin, 'cart@12', [qa, prod])).toEqual({ allowed: true });
    expect(mayRollBackWhenFailed(qaPerson, 'cart@12', [qa])).toEqual({
      allowed: false,
      reason: 'needs admin or deployer — you are qa',
    });
    // A deployer may not mark at all, but were it allowed, prod would still refuse it.
    expect(mayRollBackWhenFailed(deployer, 'cart@12', [qa, prod])).toEqual({
      allowed: false,
      reason: 'prod is protected: admin only',
    });
    expect(mayRollBackWhenFailed(admin, 'cart@12', [])).toEqual({
      allowed: false,
      reason: 'cart@12 is not the desired release anywhere',
    });
  });
});
