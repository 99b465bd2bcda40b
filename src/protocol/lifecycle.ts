/**
 * The lifecycle's one home: the states of a deployment and of an install, and
 * every move allowed between them, as tables. Everything else asks this module
 * ("may this install go from `queued` to `skipped`?", "is this deployment
 * active?") instead of writing state names; adding a state means editing the
 * tables here and their test beside them.
 *
 * @example
 *   mayInstallMove('queued', 'skipped'); // true: the host stayed offline too long
 *   installStatesBefore('queued'); // ['pending', 'queued']: what a send may mark queued
 *   isActiveDeployment('partial'); // false
 */

/**
 * Where an install stands. `pending`: planned, not sent; `queued`: sent, not
 * started; `running`: the host was told to go ahead (it asked whether the job
 * is still wanted), or reported its first step; `skipped`: the rollout
 * gave up on the host (offline, cut off); `cancelled`: it was not to be sent,
 * or not to be started, after all.
 */
export const INSTALL_STATES = [
  'pending',
  'queued',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const;
export type InstallState = (typeof INSTALL_STATES)[number];

/**
 * Where a deployment stands. `partial`: every host that could be reached runs
 * the new release, some could not be (offline) and catch up when they return —
 * it becomes `succeeded` once they have. `rolled_back`: it failed and the hosts
 * already done went back. `no_hosts`: the environment has no host with the
 * app's role, so nothing was installed (the desired release is set, for hosts
 * that join later, unless the bundle had migrations to run: they ran nowhere). `cancelled`: a person stopped it; installs already running
 * finished, each install's record says what its host got. `baking`: a batch
 * (the last, or any with `batchBake`) is done and the rollout watches its
 * hosts' health for the strategy's bake time before it goes on or ends.
 * `paused`: hosts turned unhealthy during a bake with `onDegrade: pause`; it
 * waits for a person (`ferry deployments resume|rollback`).
 */
export const DEPLOYMENT_STATES = [
  'pending',
  'running',
  'baking',
  'paused',
  'succeeded',
  'failed',
  'partial',
  'rolled_back',
  'no_hosts',
  'cancelled',
] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/**
 * Every allowed move of an install, from each state, and why. A repeated
 * report (the same job delivered twice) is no move: the record keeps its state.
 */
const INSTALL_MOVES: { readonly [S in InstallState]: { readonly [T in InstallState]?: string } } = {
  pending: {
    // Its sending recorded just before its job goes (the host may fetch the
    // bundle at once), still pending until the transport has taken the job.
    pending: 'its job is about to go to its host',
    queued: 'sent to its host',
    running: 'its host was told to go ahead, or started it, before the sending was recorded',
    succeeded: 'its host finished it before the sending was recorded',
    failed: 'its variables no longer resolve, its job grew too large, or its host failed it',
    skipped: 'its host was cut off or removed',
    cancelled: 'the rollout stopped, or the deployment was cancelled, before this host',
  },
  queued: {
    // Sent again: a replica that took over sends what was not acknowledged.
    queued: 'sent again',
    running: 'its host was told to go ahead, or started it',
    succeeded: 'its host finished it (no step reported)',
    failed: 'its host failed it before any step',
    skipped: 'its host stayed offline longer than the strategy allows, or was cut off',
    cancelled: 'the deployment was cancelled before its host started it',
  },
  running: {
    succeeded: 'its health check passed',
    failed: 'a step failed',
    skipped: 'its host went offline during it, or was cut off',
  },
  // A host the rollout gave up on, or whose install was cancelled after it had
  // been told to go ahead, that runs the job after all: the record follows the host.
  skipped: {
    running: 'its host came back and ran it after all',
    succeeded: 'its host came back and ran it after all',
    failed: 'its host came back and ran it after all',
  },
  cancelled: {
    running: 'its host had already been told to go ahead',
    succeeded: 'its host had already been told to go ahead',
    failed: 'its host had already been told to go ahead',
  },
  succeeded: {},
  failed: {},
};

/** Every allowed move of a deployment, from each state, and why. */
const DEPLOYMENT_MOVES: {
  readonly [S in DeploymentState]: { readonly [T in DeploymentState]?: string };
} = {
  pending: {
    running: 'it got the lock of its app and environment',
    failed: 'its variables do not resolve for the hosts of that moment',
    cancelled: 'a person cancelled it, or a newer one replaced it in the queue',
  },
  running: {
    succeeded: 'every host took the release',
    partial: 'some hosts were away or failed within maxFailures; they catch up',
    failed: 'too many hosts failed, or no host took it',
    rolled_back: 'too many hosts failed and the hosts done went back',
    no_hosts: 'no host of the environment has the role of the app',
    cancelled: 'a person cancelled it',
    baking: 'a batch is done and its hosts are watched for the bake time',
  },
  baking: {
    // Back to rolling out: the next batch goes, or the hosts done go back.
    running:
      'the bake of a batch ended healthy enough and the next batch goes, or hosts turned unhealthy and the hosts done go back',
    succeeded: 'the bake ended and every host took the release',
    partial: 'the bake ended; some hosts were away or failed within maxFailures',
    rolled_back: 'hosts turned unhealthy during the bake and none had a release to go back to',
    paused: 'hosts turned unhealthy during the bake and the strategy says to wait for a person',
    cancelled: 'a person cancelled it',
  },
  paused: {
    running: 'a person resumed it (the next batch goes, or it ends), or rolled it back',
    baking: 'a person resumed it',
    rolled_back: 'a person rolled it back and no host had a release to go back to',
    cancelled: 'a person cancelled it',
  },
  partial: {
    succeeded: 'the hosts it left undone caught up',
  },
  succeeded: {},
  failed: {},
  rolled_back: {},
  no_hosts: {},
  cancelled: {},
};

/** The states a deployment is recorded in when it is created. */
export const INITIAL_DEPLOYMENT_STATES: readonly DeploymentState[] = [
  // Started at once, holding the lock.
  'running',
  // Queued behind the deployment that holds the lock.
  'pending',
  // An automatic one that could not start: recorded with the reason.
  'failed',
];

/** The states an install is recorded in when it is created. */
export const INITIAL_INSTALL_STATES: readonly InstallState[] = ['pending', 'queued', 'failed'];

/** May an install go from `from` to `to`? */
export function mayInstallMove(from: InstallState, to: InstallState): boolean {
  return INSTALL_MOVES[from][to] !== undefined;
}

/** May a deployment go from `from` to `to`? */
export function mayDeploymentMove(from: DeploymentState, to: DeploymentState): boolean {
  return DEPLOYMENT_MOVES[from][to] !== undefined;
}

/** The install states from which one may move to `to`: the guard of a conditional update. */
export function installStatesBefore(to: InstallState): InstallState[] {
  return INSTALL_STATES.filter((from) => mayInstallMove(from, to));
}

/** The deployment states from which one may move to `to`: the guard of a conditional update. */
export function deploymentStatesBefore(to: DeploymentState): DeploymentState[] {
  return DEPLOYMENT_STATES.filter((from) => mayDeploymentMove(from, to));
}

/** The deployment states that hold the lock of their app and environment and need a driver. */
export const ACTIVE_DEPLOYMENT_STATES: readonly DeploymentState[] = [
  'pending',
  'running',
  'baking',
  'paused',
];

/** The states a deployment ends in (some may still move on: `partial` to `succeeded`). */
export const FINAL_DEPLOYMENT_STATES: readonly DeploymentState[] = DEPLOYMENT_STATES.filter(
  (s) => !ACTIVE_DEPLOYMENT_STATES.includes(s),
);

/** The deployment states that count as the bundle having been in the environment. */
export const LANDED_DEPLOYMENT_STATES: readonly DeploymentState[] = ['succeeded', 'partial'];

/** The install states that have not ended: a host is, or is about to be, busy with it. */
export const OPEN_INSTALL_STATES: readonly InstallState[] = ['pending', 'queued', 'running'];

/** The install states an install ends in (a host may still revive a skipped or cancelled one). */
export const FINAL_INSTALL_STATES: readonly InstallState[] = INSTALL_STATES.filter(
  (s) => !OPEN_INSTALL_STATES.includes(s),
);

/** The install states of one sent, or to be sent, that its host has not begun. */
export const UNSTARTED_INSTALL_STATES: readonly InstallState[] = ['pending', 'queued'];

/**
 * The install states of one its host has begun: told to go ahead, or reporting
 * steps. From then on the job is that host's (its migrations too), whatever the
 * server later gives up on.
 */
export const STARTED_INSTALL_STATES: readonly InstallState[] = ['running'];

/** The install states of one its host was sent and has not ended: it holds a rollout up while the host is away. */
export const SENT_INSTALL_STATES: readonly InstallState[] = ['queued', 'running'];

/** The install states in which the host has run the job to its end. */
export const RAN_INSTALL_STATES: readonly InstallState[] = ['succeeded', 'failed'];

/** The install states in which the host took the release: installed, started and healthy. */
export const TOOK_RELEASE_INSTALL_STATES: readonly InstallState[] = ['succeeded'];

/**
 * The install states of one the server gave up on, or a person stopped: its
 * host gets no job for it any more (one already told to go ahead may still run it).
 */
export const WITHDRAWN_INSTALL_STATES: readonly InstallState[] = ['skipped', 'cancelled'];

/**
 * The deployment states of one rolling out: holding its lock, sending installs
 * or watching the hosts it installed (not queued).
 */
export const ROLLING_OUT_DEPLOYMENT_STATES: readonly DeploymentState[] = [
  'running',
  'baking',
  'paused',
];

/**
 * The deployment states of one queued behind the one that holds its lock: it
 * starts (`running`) when it gets the lock, or a newer one replaces it.
 * (`deploymentStatesBefore('running')` is not that: a baking or paused one
 * goes back to running too.)
 */
export const QUEUED_DEPLOYMENT_STATES: readonly DeploymentState[] = ['pending'];

/** The deployment states of one watching its hosts' health, or waiting for a person after a bad bake. */
export const BAKING_DEPLOYMENT_STATES: readonly DeploymentState[] = ['baking', 'paused'];

/** The deployment states of one a person stopped, or a newer one replaced in the queue. */
export const CANCELLED_DEPLOYMENT_STATES: readonly DeploymentState[] = ['cancelled'];

/** Is the deployment still going: holding its lock, driven by a replica? */
export function isActiveDeployment(state: DeploymentState): boolean {
  return ACTIVE_DEPLOYMENT_STATES.includes(state);
}

/** Has the deployment put its bundle in the environment (for promotion and rollback)? */
export function hasLanded(state: DeploymentState): boolean {
  return LANDED_DEPLOYMENT_STATES.includes(state);
}

/** Has the install ended (the rollout may count it)? */
export function isFinalInstall(state: InstallState): boolean {
  return FINAL_INSTALL_STATES.includes(state);
}

/** Is the install still open: planned, sent or running? */
export function isOpenInstall(state: InstallState): boolean {
  return OPEN_INSTALL_STATES.includes(state);
}

/** Was the install sent to its host, and has it not ended? */
export function isSentInstall(state: InstallState): boolean {
  return SENT_INSTALL_STATES.includes(state);
}

/** Has the host begun the install (told to go ahead, or reporting steps), and not ended it? */
export function isStartedInstall(state: InstallState): boolean {
  return STARTED_INSTALL_STATES.includes(state);
}

/** Did the host run the install to its end, either way? */
export function hasRun(state: InstallState): boolean {
  return RAN_INSTALL_STATES.includes(state);
}

/** Did the host take the release (for a snapshot to reuse, a host's running configuration)? */
export function tookRelease(state: InstallState): boolean {
  return TOOK_RELEASE_INSTALL_STATES.includes(state);
}

/** Was the install given up on, or stopped, so that its host is not to get it? */
export function isWithdrawn(state: InstallState): boolean {
  return WITHDRAWN_INSTALL_STATES.includes(state);
}

/** Is the deployment rolling out now, rather than queued behind another or ended? */
export function isRollingOut(state: DeploymentState): boolean {
  return ROLLING_OUT_DEPLOYMENT_STATES.includes(state);
}

/** Is the deployment baking, or paused after a bad bake (a person may resume it or roll it back)? */
export function isBaking(state: DeploymentState): boolean {
  return BAKING_DEPLOYMENT_STATES.includes(state);
}

/** Was the deployment cancelled (catch-up installs nothing on its account)? */
export function isCancelledDeployment(state: DeploymentState): boolean {
  return CANCELLED_DEPLOYMENT_STATES.includes(state);
}

/** Why an install may move from `from` to `to`, or undefined when it may not. */
export function installMoveReason(from: InstallState, to: InstallState): string | undefined {
  return INSTALL_MOVES[from][to];
}

/** Why a deployment may move from `from` to `to`, or undefined when it may not. */
export function deploymentMoveReason(
  from: DeploymentState,
  to: DeploymentState,
): string | undefined {
  return DEPLOYMENT_MOVES[from][to];
}
