import type { DeploymentInstall, DeploymentRecord } from '../../protocol/deployment-api.js';
import type { FerryEvent } from '../../protocol/events.js';
import {
  hasRun,
  isOpenInstall,
  isStartedInstall,
  isWithdrawn,
  tookRelease,
} from '../../protocol/lifecycle.js';

/**
 * A deployment as its page follows it: the record the server gave once, then
 * each event of the deployment applied to it (a host's state, a step starting
 * or ending), so a rollout over 100 hosts is followed without asking for the
 * whole record again. An install's steps are known from the events since the
 * page opened; one that had begun before knows only the step its record names
 * until its steps are fetched (`mergeInstallSteps`, as its row comes into
 * view). Updates are immutable: an install that did not change keeps its
 * object, so its row need not render again.
 *
 * @example
 *   let view = deploymentView(await client.call('deployment', { params: { id } }));
 *   view = applyDeploymentEvent(view, event); // the same object when nothing changed
 */

/** One step of an install, as far as it is known. */
export interface StepView {
  readonly step: string;
  readonly state: 'running' | 'succeeded' | 'failed';
  readonly exitCode: number | null;
  readonly durationMs: number | null;
}

export interface InstallView {
  readonly install: DeploymentInstall;
  /** Its steps in the order they started, as far as they are known. */
  readonly steps: readonly StepView[];
  /**
   * True when every step is known: none had run when the page learned of the
   * install, or its steps were fetched since. False: fetch them (`install`).
   */
  readonly complete: boolean;
}

export interface DeploymentView {
  readonly record: Omit<DeploymentRecord, 'installs'>;
  readonly installs: readonly InstallView[];
}

/**
 * The view of a record, keeping the steps an earlier view knew for the
 * installs they share: a record fetched again after a gap replaces states, and
 * marks the steps of installs that moved on incomplete (events were missed).
 */
export function deploymentView(
  record: DeploymentRecord,
  previous?: DeploymentView,
): DeploymentView {
  const { installs, ...rest } = record;
  const before = new Map(previous?.installs.map((view) => [view.install.id, view]));
  return {
    record: rest,
    installs: installs.map((install) => {
      const known = before.get(install.id);
      if (known) {
        const moved = known.install.state !== install.state || !sameStep(known.install, install);
        return { install, steps: known.steps, complete: known.complete && !moved };
      }
      return {
        install,
        steps: install.step ? [stepOf(install.step)] : [],
        complete: install.step === null,
      };
    }),
  };
}

function sameStep(a: DeploymentInstall, b: DeploymentInstall): boolean {
  return a.step?.step === b.step?.step && a.step?.state === b.step?.state;
}

/**
 * Puts an install's fetched steps (`GET /installs/:id`) under the steps the
 * events told since: a step the fetch has as running and an event has seen end
 * keeps the event's word. The install's steps are then complete.
 */
export function mergeInstallSteps(
  view: DeploymentView,
  installId: string,
  fetched: readonly NonNullable<DeploymentInstall['step']>[],
): DeploymentView {
  const index = view.installs.findIndex((i) => i.install.id === installId);
  if (index < 0) return view;
  const old = view.installs[index]!;
  const steps = fetched.map(stepOf);
  for (const step of old.steps) {
    const at = lastIndexOf(steps, step.step);
    if (at < 0) steps.push(step);
    else if (steps[at]!.state === 'running' && step.state !== 'running') steps[at] = step;
  }
  return { ...view, installs: replaceAt(view.installs, index, { ...old, steps, complete: true }) };
}

function stepOf(step: NonNullable<DeploymentInstall['step']>): StepView {
  return {
    step: step.step,
    state: step.state,
    exitCode: step.exitCode,
    durationMs: step.durationMs,
  };
}

/** Applies one event to the view; answers the same view when the event is not about it. */
export function applyDeploymentEvent(view: DeploymentView, event: FerryEvent): DeploymentView {
  if (event.deploymentId !== view.record.id) return view;
  switch (event.kind) {
    case 'deployment.created':
    case 'deployment.state': {
      const state = event.data.state as DeploymentRecord['state'];
      if (state === view.record.state && event.data.error === view.record.error) return view;
      return { ...view, record: { ...view.record, state, error: event.data.error } };
    }
    case 'install.state': {
      const { data } = event;
      const index = view.installs.findIndex((i) => i.install.id === data.installId);
      const old = index < 0 ? undefined : view.installs[index]!;
      const install: DeploymentInstall = {
        ...(old?.install ?? {
          id: data.installId,
          hostId: event.hostId ?? '',
          step: null,
          startedAt: null,
          finishedAt: null,
        }),
        host: data.host,
        version: data.version,
        purpose: data.purpose as DeploymentInstall['purpose'],
        batch: data.batch,
        fromVersion: data.fromVersion,
        state: data.state as DeploymentInstall['state'],
        rolledBack: data.rolledBack,
        error: data.error,
      };
      const next: InstallView = old ? { ...old, install } : { install, steps: [], complete: true };
      return { ...view, installs: replaceAt(view.installs, index, next) };
    }
    case 'install.step': {
      const { data } = event;
      const index = view.installs.findIndex((i) => i.install.id === data.installId);
      if (index < 0) return view;
      const old = view.installs[index]!;
      const step: StepView = {
        step: data.step,
        state: data.state as StepView['state'],
        exitCode: data.exitCode,
        durationMs: data.durationMs,
      };
      const steps = [...old.steps];
      const at = lastIndexOf(steps, data.step);
      // A step that runs again after it ended (a retried health check) is a new line.
      if (at >= 0 && (steps[at]!.state === 'running' || step.state !== 'running')) steps[at] = step;
      else steps.push(step);
      let install = old.install;
      if (install.state === 'pending' || install.state === 'queued') {
        install = { ...install, state: 'running' };
      }
      install = { ...install, step: { ...(install.step ?? emptyStep(event.at)), ...step } };
      return {
        ...view,
        installs: replaceAt(view.installs, index, { ...old, install, steps }),
      };
    }
    default:
      return view;
  }
}

function emptyStep(at: string): NonNullable<DeploymentInstall['step']> {
  return {
    step: '',
    state: 'running',
    exitCode: null,
    durationMs: null,
    error: null,
    startedAt: at,
    finishedAt: null,
  };
}

function lastIndexOf(steps: readonly StepView[], name: string): number {
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i]!.step === name) return i;
  return -1;
}

function replaceAt<T>(list: readonly T[], index: number, item: T): T[] {
  if (index < 0) return [...list, item];
  const copy = [...list];
  copy[index] = item;
  return copy;
}

/** How far a rollout got, counted by host (its `deploy` installs; reverts counted apart). */
export interface DeploymentProgress {
  readonly hosts: number;
  readonly done: number;
  readonly failed: number;
  readonly installing: number;
  readonly waiting: number;
  readonly withdrawn: number;
  /** Hosts being put back, or put back, after a failed rollout. */
  readonly reverts: number;
}

export function deploymentProgress(view: DeploymentView): DeploymentProgress {
  let hosts = 0;
  let done = 0;
  let failed = 0;
  let installing = 0;
  let waiting = 0;
  let withdrawn = 0;
  let reverts = 0;
  for (const { install } of view.installs) {
    if (install.purpose === 'revert') {
      reverts++;
      continue;
    }
    hosts++;
    if (tookRelease(install.state)) done++;
    else if (hasRun(install.state)) failed++;
    else if (isWithdrawn(install.state)) withdrawn++;
    else if (isStartedInstall(install.state)) installing++;
    else if (isOpenInstall(install.state)) waiting++;
  }
  return { hosts, done, failed, installing, waiting, withdrawn, reverts };
}

/** `7 of 100 hosts done · 1 failed · 2 installing · 90 waiting`. */
export function progressText(progress: DeploymentProgress): string {
  const parts = [
    `${progress.done} of ${progress.hosts} host${progress.hosts === 1 ? '' : 's'} done`,
  ];
  if (progress.failed > 0) parts.push(`${progress.failed} failed`);
  if (progress.installing > 0) parts.push(`${progress.installing} installing`);
  if (progress.waiting > 0) parts.push(`${progress.waiting} waiting`);
  if (progress.withdrawn > 0) parts.push(`${progress.withdrawn} skipped or cancelled`);
  if (progress.reverts > 0) parts.push(`${progress.reverts} put back`);
  return parts.join(' · ');
}

/** One batch of the rollout, or the installs outside batches (reverts, catch-ups). */
export interface BatchGroup {
  /** `Batch 1`, `Putting back`, `Catch-up`. */
  readonly title: string;
  readonly key: string;
  readonly installs: readonly InstallView[];
}

/** Does this install stand out as failed: it ran and did not take the release, or was rolled back? */
export function isFailedInstall(install: DeploymentInstall): boolean {
  return (hasRun(install.state) && !tookRelease(install.state)) || install.rolledBack;
}

/**
 * The installs by batch, in the rollout's order; with `failedFirst`, the
 * failed hosts of each batch first; with `onlyFailed`, nothing else.
 */
export function groupByBatch(
  view: DeploymentView,
  options: { failedFirst?: boolean; onlyFailed?: boolean; text?: string } = {},
): BatchGroup[] {
  const groups = new Map<string, { title: string; order: number; installs: InstallView[] }>();
  const text = options.text?.trim().toLowerCase() ?? '';
  for (const view_ of view.installs) {
    const { install } = view_;
    if (options.onlyFailed && !isFailedInstall(install)) continue;
    if (text !== '' && !install.host.toLowerCase().includes(text)) continue;
    const [key, title, order] =
      install.purpose === 'revert'
        ? ['revert', 'Putting back', 1e6]
        : install.batch === null
          ? [
              install.purpose,
              install.purpose === 'catch-up' ? 'Catch-up' : 'Outside batches',
              1e6 + 1,
            ]
          : [`batch-${install.batch}`, `Batch ${install.batch + 1}`, install.batch];
    let group = groups.get(key);
    if (!group) {
      group = { title, order, installs: [] };
      groups.set(key, group);
    }
    group.installs.push(view_);
  }
  return [...groups.entries()]
    .sort(([, a], [, b]) => a.order - b.order)
    .map(([key, group]) => ({
      key,
      title: group.title,
      installs: options.failedFirst
        ? [...group.installs].sort(
            (a, b) => Number(isFailedInstall(b.install)) - Number(isFailedInstall(a.install)),
          )
        : group.installs,
    }));
}
