import type { InstallJob } from '../../protocol/messages.js';
import type { StepReporter } from './step-reporter.js';
import { discardStep } from './steps/discard-step.js';
import { fetchStep } from './steps/fetch-step.js';
import { healthStep } from './steps/health-step.js';
import { installCommandsStep } from './steps/install-commands-step.js';
import {
  type InstallHost,
  type InstallMemory,
  type InstallResult,
  type InstallStep,
  newInstallContext,
} from './steps/install-step.js';
import { linkSharedStep } from './steps/link-shared-step.js';
import { migrateStep } from './steps/migrate-step.js';
import { prepareStep } from './steps/prepare-step.js';
import { pruneStep } from './steps/prune-step.js';
import { requiresStep } from './steps/requires-step.js';
import { reuseStep } from './steps/reuse-step.js';
import { revertStep } from './steps/revert-step.js';
import { startStep } from './steps/start-step.js';
import { switchStep } from './steps/switch-step.js';
import { unpackStep } from './steps/unpack-step.js';
import { verifyStep } from './steps/verify-step.js';

export type { InstallHost, InstallMemory, InstallResult } from './steps/install-step.js';
export { INSTALLED_MARKER, currentVersion } from './release-files.js';
export { healthFile, type RememberedHealth } from './steps/health-step.js';

/**
 * The steps of an install, in order. Each one says whether it applies to this
 * install (which way it goes, how far it got), so that a new step slots in here
 * without touching the others.
 */
export const INSTALL_STEPS: readonly InstallStep[] = [
  prepareStep,
  requiresStep,
  reuseStep,
  fetchStep,
  verifyStep,
  unpackStep,
  linkSharedStep,
  installCommandsStep,
  migrateStep,
  switchStep,
  discardStep,
  startStep,
  healthStep,
  revertStep,
  pruneStep,
];

/**
 * One install, as in the design: the manifest's `requires` checked → fetch → verify → unpack → link shared → hooks
 * and install commands → migrate (when asked) → switch `current` → start →
 * health check; on a failed start or check, switch back, restart the previous
 * release and check it; then prune old releases. Each step is reported with its
 * own output.
 */
export async function runInstall(
  job: InstallJob,
  host: InstallHost,
  steps: StepReporter,
  memory: InstallMemory = { previous: undefined, rememberPrevious: () => Promise.resolve() },
  pipeline: readonly InstallStep[] = INSTALL_STEPS,
): Promise<InstallResult> {
  const ctx = newInstallContext(job, host, steps, memory);
  for (const step of pipeline) {
    if (step.applies(ctx)) await step.run(ctx);
  }
  return ctx.failure === undefined
    ? { ok: true, rolledBack: false, error: null }
    : { ok: false, rolledBack: ctx.rolledBack, error: ctx.failure.error };
}
