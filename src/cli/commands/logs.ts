import type { Command } from 'commander';
import type { InstallLogs } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson } from '../output.js';

/**
 * `ferry logs <deployment-id | install-id> [--host NAME]`: every step's stdout
 * and stderr, as the agents reported them; for a deployment, host by host.
 */
export function registerLogs(program: Command): void {
  program
    .command('logs <id>')
    .description(
      'print the stored output of each step: of every install of a deployment (dep_…), or of one install (ins_…)',
    )
    .option('--host <name>', "a deployment's installs on this host only")
    .option('--json', 'print the logs as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry logs dep_0123456789abcdef --host prod-2\n  ferry logs ins_0123456789abcdef',
    )
    .action(async (id: string, options: { host?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const api = await connect(globals);
      if (id.startsWith('dep_')) {
        const logs = await api.deploymentLogs(id, options.host);
        if (globals.json) {
          printJson(logs);
          return;
        }
        for (const install of logs.installs) {
          process.stdout.write(
            `#### ${install.host}: ${install.purpose} @${install.version}, ${install.state} (${install.installId})\n`,
          );
          printSteps(install.steps);
        }
        return;
      }
      const logs = await api.installLogs(id);
      if (globals.json) {
        printJson(logs);
        return;
      }
      printSteps(logs.steps);
    });
}

function printSteps(steps: InstallLogs['steps']): void {
  for (const step of steps) {
    process.stdout.write(`== ${step.step}${stepEnd(step)}\n`);
    if (step.stdout)
      process.stdout.write(`-- stdout\n${step.stdout}${step.stdout.endsWith('\n') ? '' : '\n'}`);
    if (step.stderr)
      process.stdout.write(`-- stderr\n${step.stderr}${step.stderr.endsWith('\n') ? '' : '\n'}`);
  }
}

/** How a step ended, for its heading: `: succeeded, exit 0, 1.2 s` (what is known of it). */
export function stepEnd(step: InstallLogs['steps'][number]): string {
  const parts: string[] = [];
  if (step.state) parts.push(step.state);
  if (step.exitCode !== null) parts.push(`exit ${step.exitCode}`);
  if (step.durationMs !== null) parts.push(formatDuration(step.durationMs));
  return parts.length === 0 ? '' : `: ${parts.join(', ')}`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
