import type { StartedDeployment } from '../protocol/api.js';
import type { FerryEvent } from '../protocol/events.js';
import type { DeploymentInstall, DeploymentRecord } from '../protocol/deployment-api.js';
import {
  isActiveDeployment,
  isBaking,
  isOpenInstall,
  isWithdrawn,
  tookRelease,
} from '../protocol/lifecycle.js';
import type { ApiClient } from './api-client.js';
import { printable, printJson } from './output.js';

/**
 * Follows a deployment to its end, printing a line whenever a host moves on
 * (its state or its step), and a summary at the end. Returns the process exit
 * code: 0 only when the deployment succeeded. With `json`, prints nothing but
 * the final record.
 *
 * @example
 *   process.exitCode = await followDeployment(api, await api.deploy(body), { json: false });
 */
export async function followDeployment(
  api: ApiClient,
  first: DeploymentRecord,
  options: {
    json?: boolean | undefined;
    detach?: boolean | undefined;
    /** Where lines go (stdout unless told). */
    say?: (line: string) => void;
  },
): Promise<number> {
  const say = (line: string) => {
    if (options.json) return;
    if (options.say) options.say(line);
    else process.stdout.write(`${printable(line)}\n`);
  };
  say(headline(first));
  if (options.detach) {
    if (options.json) printJson(first);
    else say(`follow it: ferry deployment ${first.id} --follow`);
    return 0;
  }
  // On a terminal, one line per host, rewritten in place as it moves on; in a
  // pipe or a log, a new line each time a host moves on.
  const live = !options.json && !options.say && process.stdout.isTTY;
  const shown = new Map<string, string>();
  let drawn = 0;
  const draw = (deployment: DeploymentRecord): void => {
    const bake = bakeLine(deployment);
    if (live) {
      const lines = [
        ...deployment.installs.map(installLine),
        ...(bake === undefined ? [] : [`  ${bake}`]),
      ].map((line) => fit(printable(line), process.stdout.columns));
      process.stdout.write(
        `${drawn > 0 ? `\x1b[${drawn}F` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`,
      );
      drawn = lines.length;
      return;
    }
    for (const install of deployment.installs) {
      const line = installLine(install);
      if (shown.get(install.id) !== line) {
        say(line);
        shown.set(install.id, line);
      }
    }
    if (bake !== undefined && shown.get('bake') !== bake) {
      say(`  ${bake}`);
      shown.set('bake', bake);
    }
  };
  if (first.state === 'pending')
    say('  waiting for the deployment ahead of it in this environment to end');
  draw(first);
  if (isActiveDeployment(first.state)) {
    // The deployment's events from its first, then live: the model is built
    // from them alone, so nothing is asked again while it runs.
    const model = structuredClone(first);
    await api.followEvents({ deployment: first.id }, '0', (event) => {
      if (!applyEvent(model, event)) return true;
      draw(model);
      return !(event.kind === 'deployment.state' && !isActiveDeployment(model.state));
    });
  }
  // Its whole record once at the end, for the summary.
  const deployment = isActiveDeployment(first.state) ? await api.deployment(first.id) : first;
  if (!isActiveDeployment(first.state) || live) draw(deployment);
  if (options.json) printJson(deployment);
  for (const line of summary(deployment)) say(line);
  return deployment.state === 'succeeded' ? 0 : 1;
}

/**
 * Applies one event of a deployment to its record as the CLI shows it; false
 * when the event changes nothing shown.
 */
export function applyEvent(deployment: DeploymentRecord, event: FerryEvent): boolean {
  switch (event.kind) {
    case 'deployment.created':
    case 'deployment.state':
      deployment.state = event.data.state as DeploymentRecord['state'];
      deployment.error = event.data.error;
      if (event.data.bakeUntil)
        deployment.bake = { batch: deployment.bake?.batch ?? 0, until: event.data.bakeUntil };
      return true;
    case 'install.state': {
      const { data } = event;
      let install = deployment.installs.find((i) => i.id === data.installId);
      if (!install) {
        install = {
          id: data.installId,
          host: data.host,
          hostId: event.hostId ?? '',
          version: data.version,
          purpose: data.purpose as DeploymentInstall['purpose'],
          batch: data.batch,
          state: 'pending',
          fromVersion: data.fromVersion,
          rolledBack: false,
          error: null,
          step: null,
          startedAt: null,
          finishedAt: null,
        };
        deployment.installs.push(install);
      }
      install.state = data.state as DeploymentInstall['state'];
      install.rolledBack = data.rolledBack;
      install.error = data.error;
      return true;
    }
    case 'install.step': {
      const install = deployment.installs.find((i) => i.id === event.data.installId);
      if (!install) return false;
      const { step, state, exitCode, durationMs } = event.data;
      install.step = {
        step,
        state: state as NonNullable<DeploymentInstall['step']>['state'],
        exitCode,
        durationMs,
        error: null,
        startedAt: install.step?.step === step ? install.step.startedAt : event.at,
        finishedAt: state === 'running' ? null : event.at,
      };
      if (install.state === 'queued' || install.state === 'pending') install.state = 'running';
      return true;
    }
    default:
      return false;
  }
}

/** A line cut to the terminal's width, so that rewriting lines in place stays aligned. */
function fit(line: string, columns: number | undefined): string {
  const width = columns !== undefined && columns >= 40 ? columns : 120;
  return line.length < width ? line : `${line.slice(0, width - 2)}…`;
}

/** `deploying hello@3 to prod (dep_…): 3 hosts, batches of 1, max failures 0, was hello@2`. */
export function headline(deployment: DeploymentRecord): string {
  const { app, version, env, strategy } = deployment;
  const what =
    deployment.kind === 'rollback'
      ? `rolling back ${app} in ${env} to ${app}@${version}`
      : `${deployment.kind === 'deploy' ? 'deploying' : deployment.kind} ${app}@${version} to ${env}`;
  const hosts = deployment.installs.filter((i) => i.purpose === 'deploy').length;
  const was = deployment.fromVersion === null ? '' : `, was ${app}@${deployment.fromVersion}`;
  return (
    `${what} (${deployment.id}): ${hosts} host${hosts === 1 ? '' : 's'}, ` +
    `batches of ${strategy.batch}, max failures ${strategy.maxFailures}${was}`
  );
}

/**
 * Where a baking or paused deployment stands: `baking (until 14:07:30)`, or
 * `paused: <why>` with the commands a person may run; undefined for any other
 * state. Times are UTC, as elsewhere in the CLI.
 */
export function bakeLine(
  deployment: Pick<DeploymentRecord, 'id' | 'state' | 'error' | 'bake'>,
): string | undefined {
  if (!isBaking(deployment.state)) return undefined;
  if (deployment.state === 'paused')
    return (
      `paused: ${deployment.error ?? 'hosts turned unhealthy during the bake'}` +
      ` — run ${pausedCommands(deployment.id)}`
    );
  const until = deployment.bake?.until;
  return until ? `baking (until ${until.slice(11, 19)})` : 'baking';
}

/** What ends a pause after a bad bake: `ferry deployments resume <id>` or `... rollback <id>`. */
export function pausedCommands(id: string): string {
  return `ferry deployments resume ${id} or ferry deployments rollback ${id}`;
}

/** One host's line: `  prod-1  batch 1  @3  health ...` or `  prod-1  batch 1  @3  succeeded`. */
export function installLine(install: DeploymentInstall): string {
  const what =
    install.purpose === 'deploy'
      ? `batch ${(install.batch ?? 0) + 1}`
      : install.purpose === 'revert'
        ? 'putting back'
        : install.purpose;
  let state: string;
  if (install.state === 'running' && install.step) {
    state =
      install.step.state === 'running'
        ? `${install.step.step} ...`
        : `${install.step.step} ${install.step.state === 'succeeded' ? 'ok' : 'FAILED'}`;
  } else {
    state = install.state;
    if (install.error && install.state !== 'succeeded') state += `: ${install.error}`;
    else if (install.rolledBack) state += ' (rolled back on the host)';
  }
  return `  ${install.host}  ${what}  @${install.version}  ${state}`;
}

/**
 * What a cancelled deployment left on each host: those that got the release
 * (they were installing when it was cancelled), those still installing it, and
 * those it never reached. One cancelled while a failed rollout put hosts back
 * also says which went back (or are going back), and which stay on the release
 * because their going back was cancelled.
 */
export function cancelledHosts(deployment: DeploymentRecord): string[] {
  const ref = `${deployment.app}@${deployment.version}`;
  // The newest revert of each host (installs are listed oldest first).
  const reverts = new Map(
    deployment.installs.filter((i) => i.purpose === 'revert').map((i) => [i.hostId, i]),
  );
  const groups = new Map<string, string[]>();
  for (const install of deployment.installs.filter((i) => i.purpose === 'deploy')) {
    const revert = reverts.get(install.hostId);
    const back = revert && `${deployment.app}@${revert.version}`;
    const label =
      revert === undefined
        ? tookRelease(install.state)
          ? `got ${ref}`
          : isOpenInstall(install.state)
            ? `still installing ${ref}`
            : `did not get ${ref}`
        : tookRelease(revert.state)
          ? `went back to ${back}`
          : isOpenInstall(revert.state)
            ? `going back to ${back}`
            : isWithdrawn(revert.state)
              ? `got ${ref} and stays on it`
              : `failed to go back to ${back}`;
    groups.set(label, [...(groups.get(label) ?? []), install.host]);
  }
  return [...groups].map(([label, hosts]) => `  ${label}: ${hosts.join(', ')}`);
}

/** What a finished deployment comes to, and where to look. */
export function summary(deployment: DeploymentRecord): string[] {
  const ref = `${deployment.app}@${deployment.version}`;
  const lines: string[] = [];
  switch (deployment.state) {
    case 'succeeded': {
      const hosts = deployment.installs.filter((i) => i.purpose === 'deploy').map((i) => i.host);
      const caughtUp = deployment.installs
        .filter((i) => i.purpose === 'catch-up' && i.state === 'succeeded')
        .map((i) => i.host);
      lines.push(
        `succeeded: ${ref} runs on ${hosts.join(', ')}` +
          (caughtUp.length ? ` (${caughtUp.join(', ')} caught up later)` : ''),
      );
      break;
    }
    case 'cancelled':
      lines.push(`cancelled: ${deployment.error ?? 'no detail'}`, ...cancelledHosts(deployment));
      break;
    default:
      lines.push(`${deployment.state.replace('_', ' ')}: ${deployment.error ?? 'no detail'}`);
  }
  if (deployment.state !== 'succeeded') lines.push(`logs: ferry logs ${deployment.id}`);
  return lines;
}

/** Whether a deployment something else started is still under way (and worth following). */
export function isUnderway(started: StartedDeployment): boolean {
  return started.id !== null && (started.state === 'pending' || started.state === 'running');
}

/**
 * Lines about deployments a push or a verdict started. Only one still under
 * way is offered to follow: one that has ended (failed at once, or succeeded
 * with no host to install) says how it ended instead.
 */
export function startedLines(started: StartedDeployment[]): string[] {
  return started.map((d) =>
    d.id === null
      ? `not deployed to ${d.env} (${d.kind}): ${d.error ?? 'refused'}`
      : `${d.kind} to ${d.env}: ${d.id} (${d.state ?? 'started'})${d.error ? `: ${d.error}` : ''}` +
        (isUnderway(d) ? `; follow it: ferry deployment ${d.id} --follow` : ''),
  );
}
