import type { StepOutcome } from '../step-reporter.js';
import type { InstallContext } from './install-step.js';

/**
 * Runs a list of commands as one reported step, in `cwd` with exactly `env`;
 * an empty list is no step at all.
 */
export function runCommands(
  ctx: InstallContext,
  name: string,
  commands: readonly string[],
  cwd: string,
  env: Record<string, string>,
): Promise<StepOutcome> {
  if (commands.length === 0) return Promise.resolve({ ok: true, error: null });
  return ctx.steps.step(name, async (context) => {
    for (const command of commands)
      await context.run(command, { cwd, env, timeoutMs: ctx.host.commandTimeoutMs });
  });
}
