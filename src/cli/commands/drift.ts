import type { Command } from 'commander';
import { appNameSchema } from '../../bundle/manifest-schema.js';
import type { Drift } from '../../protocol/report-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry drift [--env E] [--app A] [--json]`: what differs now between the hosts of an environment. */
export function registerDrift(program: Command): void {
  program
    .command('drift')
    .description(
      'show what differs between the hosts of each environment: runtimes, OS, kernel, agent, the release each runs against the desired one, and variables among the hosts of a role',
    )
    .option('--env <env>', 'only this environment')
    .option('--app <app>', "only this app's release and variables, among the hosts that run it")
    .option('--json', 'print the answer as JSON')
    .addHelpText('after', '\nExample:\n  ferry drift --env prod --app cart')
    .action(async (options: { env?: string; app?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const answer = await (
        await connect(globals)
      ).drift({
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.app === undefined
          ? {}
          : { app: parseArg(appNameSchema, options.app, '--app') }),
      });
      if (globals.json) {
        printJson(answer);
        return;
      }
      printTable(
        answer.drift,
        [
          ['ENV', (d) => d.env],
          ['WHAT', what],
          ['EXPECTED', (d) => d.expected],
          ['VALUES', values],
        ],
        `No drift: the ${answer.hostsCompared} hosts compared agree.`,
      );
      if (answer.drift.length > 0)
        process.stdout.write(`\n${answer.hostsCompared} hosts compared.\n`);
      if (answer.away.length > 0) {
        process.stdout.write(`Away, compared by their last facts: ${answer.away.join(', ')}.\n`);
      }
    });
}

/** `runtime node (role web)`, `release cart`, `config cart/REDIS_HOST (role web)`. */
function what(d: Drift): string {
  const role = d.role ? ` (role ${d.role})` : '';
  if (d.aspect === 'config') return `config ${d.app}/${d.name}${role}`;
  if (d.aspect === 'runtime') return `runtime ${d.name}${role}`;
  if (d.aspect === 'release') return `release ${d.name}`;
  return d.aspect;
}

/** `20.11.1: web-1, web-2 | 18.19.0: web-3`; a value a host lacks is `(none)`. */
function values(d: Drift): string {
  return d.values.map((v) => `${v.value ?? '(none)'}: ${v.hosts.join(', ')}`).join(' | ');
}
