import type { DeploymentInstall, DeploymentRecord } from '../../protocol/deployment-api.js';
import type { FerryEvent } from '../../protocol/events.js';
import { isActiveDeployment } from '../../protocol/lifecycle.js';

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
  /**
   * When the server knew the step in this state (its end, or its start while
   * it runs): an event about the step from before then is old news.
   */
  readonly at: string | null;
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
  /**
   * The rollout's phase, known only from events (the record has none):
   * `reverting` while the hosts already done are put back.
   */
  readonly phase?: string;
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
    ...(previous?.phase !== undefined && isActiveDeployment(rest.state)
      ? { phase: previous.phase }
      : {}),
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
    at: step.finishedAt ?? step.startedAt,
  };
}

/** Applies one event to the view; answers the same view when the event is not about it. */
export function applyDeploymentEvent(view: DeploymentView, event: FerryEvent): DeploymentView {
  if (event.deploymentId !== view.record.id) return view;
  switch (event.kind) {
    case 'deployment.created':
    case 'deployment.state': {
      const { record } = view;
      const state = event.data.state as DeploymentRecord['state'];
      // A deployment that ended never runs again: an event that says it does is
      // older than the record (it came while the record was being fetched).
      if (!isActiveDeployment(record.state) && isActiveDeployment(state)) return view;
      const ends = !isActiveDeployment(state);
      const next = {
        ...record,
        state,
        error: event.data.error,
        startedAt: record.startedAt ?? (state === 'running' || ends ? event.at : null),
        finishedAt: ends ? (record.finishedAt ?? event.at) : null,
      };
      const phase = ends ? undefined : event.data.phase;
      if (
        state === record.state &&
        next.error === record.error &&
        next.startedAt === record.startedAt &&
        next.finishedAt === record.finishedAt &&
        phase === view.phase
      )
        return view;
      return { installs: view.installs, record: next, ...(phase === undefined ? {} : { phase }) };
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
        at: event.at,
      };
      const steps = [...old.steps];
      const at = lastIndexOf(steps, data.step);
      const known = at >= 0 ? steps[at]! : undefined;
      // The step had ended by the time the server said so: an event from before
      // then (one held while the record was fetched) is no new run of it.
      if (known && known.state !== 'running' && known.at !== null && event.at <= known.at) {
        return view;
      }
      // A step that runs again after it ended (a retried health check) is a new line.
      if (known && (known.state === 'running' || step.state !== 'running')) steps[at] = step;
      else steps.push(step);
      let install = old.install;
      if (install.state === 'pending' || install.state === 'queued') {
        install = { ...install, state: 'running' };
      }
      install = {
        ...install,
        step: {
          ...(install.step ?? emptyStep(event.at)),
          step: step.step,
          state: step.state,
          exitCode: step.exitCode,
          durationMs: step.durationMs,
        },
      };
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
