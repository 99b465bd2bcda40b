import type { DeploymentInstall } from '../../protocol/deployment-api.js';
import {
  hasRun,
  isOpenInstall,
  isStartedInstall,
  isWithdrawn,
  tookRelease,
} from '../../protocol/lifecycle.js';
import type { DeploymentView, InstallView } from './deployment-model.js';

/**
 * A deployment's hosts as its page counts and groups them: progress in words
 * (`7 of 100 hosts done · 1 failed`), and the installs by batch, failed hosts
 * first or alone.
 *
 * @example
 *   progressText(deploymentProgress(view)); // '7 of 100 hosts done · 1 failed · 2 installing'
 */

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
