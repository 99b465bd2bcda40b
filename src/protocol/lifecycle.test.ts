import { describe, expect, it } from 'vitest';
import {
  DEPLOYMENT_STATES,
  type DeploymentState,
  deploymentMoveReason,
  deploymentStatesBefore,
  FINAL_DEPLOYMENT_STATES,
  FINAL_INSTALL_STATES,
  INITIAL_DEPLOYMENT_STATES,
  INITIAL_INSTALL_STATES,
  INSTALL_STATES,
  type InstallState,
  installMoveReason,
  installStatesBefore,
  isActiveDeployment,
  isBaking,
  isCancelledDeployment,
  hasLanded,
  hasRun,
  isFinalInstall,
  isOpenInstall,
  isRollingOut,
  isWithdrawn,
  tookRelease,
  isSentInstall,
  isStartedInstall,
  mayDeploymentMove,
  mayInstallMove,
  QUEUED_DEPLOYMENT_STATES,
  UNSTARTED_INSTALL_STATES,
} from './lifecycle.js';

/**
 * The lifecycle's table, walked whole: every allowed move is listed here once
 * more, and every pair not listed is refused. Adding a state or a move means
 * editing the module and this list.
 */

const INSTALL_ALLOWED: Record<InstallState, InstallState[]> = {
  pending: ['pending', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'],
  queued: ['queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'],
  running: ['succeeded', 'failed', 'skipped'],
  skipped: ['running', 'succeeded', 'failed'],
  cancelled: ['running', 'succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

const DEPLOYMENT_ALLOWED: Record<DeploymentState, DeploymentState[]> = {
  pending: ['running', 'failed', 'cancelled'],
  running: ['succeeded', 'partial', 'failed', 'rolled_back', 'no_hosts', 'cancelled', 'baking'],
  baking: ['running', 'succeeded', 'partial', 'rolled_back', 'paused', 'cancelled'],
  paused: ['running', 'baking', 'rolled_back', 'cancelled'],
  partial: ['succeeded'],
  succeeded: [],
  failed: [],
  rolled_back: [],
  no_hosts: [],
  cancelled: [],
};

describe('the install lifecycle', () => {
  for (const from of INSTALL_STATES) {
    for (const to of INSTALL_STATES) {
      const allowed = INSTALL_ALLOWED[from].includes(to);
      it(`${allowed ? 'allows' : 'refuses'} ${from} → ${to}`, () => {
        expect(mayInstallMove(from, to)).toBe(allowed);
        // Every allowed move says why it happens.
        if (allowed) expect(installMoveReason(from, to)).toMatch(/\w/);
        else expect(installMoveReason(from, to)).toBeUndefined();
      });
    }
  }

  it('gives the guard of a conditional update: the states that may move to one', () => {
    expect(installStatesBefore('queued')).toEqual(['pending', 'queued']);
    expect(installStatesBefore('skipped')).toEqual(['pending', 'queued', 'running']);
    expect(installStatesBefore('running')).toEqual(['pending', 'queued', 'skipped', 'cancelled']);
    // Only the recording of its sending, just before the job goes.
    expect(installStatesBefore('pending')).toEqual(['pending']);
  });

  it('lets the server give up on, fail or send again any install no host has begun', () => {
    for (const from of UNSTARTED_INSTALL_STATES) {
      for (const to of ['queued', 'failed', 'skipped', 'cancelled'] as const) {
        expect(mayInstallMove(from, to), `${from} → ${to}`).toBe(true);
      }
    }
  });

  it('knows which states are final and where installs start', () => {
    expect(FINAL_INSTALL_STATES).toEqual(['succeeded', 'failed', 'skipped', 'cancelled']);
    expect(isFinalInstall('running')).toBe(false);
    expect(isFinalInstall('skipped')).toBe(true);
    expect(INITIAL_INSTALL_STATES).toEqual(['pending', 'queued', 'failed']);
  });

  it('tells an install whose host took the release from one withdrawn, and both from the open ones', () => {
    expect(INSTALL_STATES.filter(tookRelease)).toEqual(['succeeded']);
    expect(INSTALL_STATES.filter(isWithdrawn)).toEqual(['skipped', 'cancelled']);
    // An install ends when its host ran it, or when it was withdrawn: nothing else.
    expect([...INSTALL_STATES.filter(hasRun), ...INSTALL_STATES.filter(isWithdrawn)]).toEqual(
      FINAL_INSTALL_STATES,
    );
    for (const state of INSTALL_STATES.filter(isWithdrawn)) {
      expect(isOpenInstall(state), state).toBe(false);
      // A host told to go ahead before it was withdrawn may still run it.
      expect(mayInstallMove(state, 'running'), state).toBe(true);
    }
  });

  it('knows which installs went to their host unfinished, and which it began', () => {
    // Sent, not ended: an offline host holds the rollout up until it times out.
    expect(INSTALL_STATES.filter(isSentInstall)).toEqual(['queued', 'running']);
    // Begun: told to go ahead; never one not yet sent.
    expect(INSTALL_STATES.filter(isStartedInstall)).toEqual(['running']);
    for (const state of UNSTARTED_INSTALL_STATES) {
      expect(isStartedInstall(state), state).toBe(false);
      expect(mayInstallMove(state, 'running'), state).toBe(true);
    }
  });
});

describe('the deployment lifecycle', () => {
  for (const from of DEPLOYMENT_STATES) {
    for (const to of DEPLOYMENT_STATES) {
      const allowed = DEPLOYMENT_ALLOWED[from].includes(to);
      it(`${allowed ? 'allows' : 'refuses'} ${from} → ${to}`, () => {
        expect(mayDeploymentMove(from, to)).toBe(allowed);
        if (allowed) expect(deploymentMoveReason(from, to)).toMatch(/\w/);
        else expect(deploymentMoveReason(from, to)).toBeUndefined();
      });
    }
  }

  it('says which deployments are active, final, and landed', () => {
    // Baking and paused hold the lock: the rollout is not over until the bake is.
    expect(DEPLOYMENT_STATES.filter(isActiveDeployment)).toEqual([
      'pending',
      'running',
      'baking',
      'paused',
    ]);
    expect(FINAL_DEPLOYMENT_STATES).toEqual([
      'succeeded',
      'failed',
      'partial',
      'rolled_back',
      'no_hosts',
      'cancelled',
    ]);
    expect(DEPLOYMENT_STATES.filter(hasLanded)).toEqual(['succeeded', 'partial']);
    expect(INITIAL_DEPLOYMENT_STATES).toEqual(['running', 'pending', 'failed']);
  });

  it('tells a deployment rolling out from one queued, and a cancelled one from the other endings', () => {
    expect(DEPLOYMENT_STATES.filter(isRollingOut)).toEqual(['running', 'baking', 'paused']);
    expect(DEPLOYMENT_STATES.filter(isBaking)).toEqual(['baking', 'paused']);
    expect(DEPLOYMENT_STATES.filter(isActiveDeployment).filter((s) => !isRollingOut(s))).toEqual([
      'pending',
    ]);
    expect(DEPLOYMENT_STATES.filter(isCancelledDeployment)).toEqual(['cancelled']);
    expect(FINAL_DEPLOYMENT_STATES.filter(isCancelledDeployment)).toEqual(['cancelled']);
  });

  it('lets only an active deployment be cancelled, and only a partial one complete later', () => {
    expect(deploymentStatesBefore('cancelled')).toEqual(['pending', 'running', 'baking', 'paused']);
    expect(deploymentStatesBefore('succeeded')).toEqual(['running', 'baking', 'partial']);
  });

  it('lets only a baking deployment pause, and only a paused one be resumed', () => {
    expect(deploymentStatesBefore('paused')).toEqual(['baking']);
    // A queued one is only pending: a baking or paused one, back to running, is not queued.
    expect(QUEUED_DEPLOYMENT_STATES).toEqual(['pending']);
    expect(deploymentStatesBefore('running')).toEqual(['pending', 'baking', 'paused']);
    expect(deploymentStatesBefore('rolled_back')).toEqual(['running', 'baking', 'paused']);
    expect(mayDeploymentMove('paused', 'running')).toBe(true);
    expect(mayDeploymentMove('paused', 'succeeded')).toBe(false);
  });
});
