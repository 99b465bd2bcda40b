import type { Command } from 'commander';
import { alertSubjectText, alertsQuerySchema } from '../../protocol/alert-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable, shortTime } from '../output.js';
import { parseArg } from '../parse-arg.js';

interface AlertsOptions {
  open?: boolean;
  env?: string;
  app?: string;
  host?: string;
  limit?: string;
}

/**
 * `ferry alerts [--open] [--env E] [--app A] [--host H] [--json]`: what Ferry
 * saw go wrong — services failing or restarting, full disks and memory, hosts
 * away — newest first, with when each started and cleared.
 */
export function registerAlerts(program: Command): void {
  program
    .command('alerts')
    .description(
      'alerts, newest first: services failing their health check or restarting, full disks or memory, hosts away; each with its subject, when it started and cleared',
    )
    .option('--open', 'only the alerts still open')
    .option('--env <env>', 'only those of this environment')
    .option('--app <app>', 'only those of this app')
    .option('--host <host>', 'only those of this host')
    .option('--limit <n>', 'at most the newest n (default 200, at most 1000)')
    .option('--json', 'print the alerts as JSON')
    .addHelpText('after', '\nExample:\n  ferry alerts --open --env prod')
    .action(async (options: AlertsOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const shape = alertsQuerySchema.shape;
      const { alerts } = await (
        await connect(globals)
      ).alerts({
        ...(options.open === true ? { open: 'true' } : {}),
        ...(options.env === undefined ? {} : { env: parseArg(shape.env, options.env, '--env') }),
        ...(options.app === undefined ? {} : { app: parseArg(shape.app, options.app, '--app') }),
        ...(options.host === undefined
          ? {}
          : { host: parseArg(shape.host, options.host, '--host') }),
        ...(options.limit === undefined
          ? {}
          : { limit: String(parseArg(shape.limit, options.limit, '--limit')) }),
      });
      if (globals.json) {
        printJson(alerts);
        return;
      }
      printTable(
        alerts,
        [
          ['ID', (a) => a.id],
          ['KIND', (a) => a.kind],
          ['SUBJECT', (a) => alertSubjectText(a)],
          ['STARTED', (a) => shortTime(a.startedAt)],
          ['CLEARED', (a) => (a.clearedAt === null ? 'open' : shortTime(a.clearedAt))],
          ['MESSAGE', (a) => a.message],
        ],
        options.open === true ? '(no open alerts)' : '(no alerts)',
      );
    });
}
