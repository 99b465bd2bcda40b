import type { Command } from 'commander';
import { EVENT_KINDS, type FerryEvent } from '../../protocol/events.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable } from '../output.js';

interface EventsOptions {
  app?: string;
  env?: string;
  deployment?: string;
  host?: string;
  kind?: string[];
  after?: string;
}

/**
 * `ferry events`: the server's live event stream, one line per event (or one
 * JSON object per line), until interrupted. Reconnects by itself and misses
 * nothing the server still keeps.
 */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description(
      'print every change as it happens (deployments, installs and their steps, verdicts, hosts, pushes), one line each, until interrupted',
    )
    .option('--app <app>', 'only events of this app')
    .option('--env <env>', 'only events of this environment')
    .option('--deployment <id>', 'only events of this deployment')
    .option('--host <name>', 'only events of this host')
    .option(
      '--kind <kind>',
      `only events of this kind (repeatable): ${EVENT_KINDS.join(', ')}`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--after <id>', 'first replay the events after this id (0: every event still kept)')
    .option('--json', 'print each event as one line of JSON')
    .action(async (options: EventsOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (options.after !== undefined && !/^\d{1,15}$/.test(options.after)) {
        throw new FerryError(
          'E_BAD_REQUEST',
          `--after: expected an event id (digits), got ${options.after}`,
        );
      }
      const api = await connect(globals);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await api.followEvents(
        {
          app: options.app,
          env: options.env,
          deployment: options.deployment,
          host: options.host,
          kinds: options.kind,
        },
        options.after,
        (event) => {
          process.stdout.write(
            globals.json ? `${JSON.stringify(event)}\n` : `${printable(eventLine(event))}\n`,
          );
        },
        {
          signal: stop.signal,
          onGap: (oldest) =>
            process.stderr.write(
              `warning: events before ${oldest} are no longer kept; some were missed\n`,
            ),
          onReconnect: (err) =>
            process.stderr.write(`connection lost (${err.message}); reconnecting\n`),
        },
      );
    });
}

/** `14:02:07  #812  install.step  web@3 qa qa-1  health succeeded (exit 0, 1.2 s)`. */
export function eventLine(event: FerryEvent): string {
  const time = event.at.slice(11, 19);
  const head = `${time}  #${event.id}  ${event.kind}`;
  switch (event.kind) {
    case 'bundle.pushed':
      return `${head}  ${event.app}@${event.data.version} by ${event.data.by}${event.data.label ? ` (${event.data.label})` : ''}`;
    case 'deployment.created':
    case 'deployment.state':
      return (
        `${head}  ${event.app}@${event.data.version} ${event.env} ${event.deploymentId}  ` +
        `${event.data.kind} ${event.data.state}${event.data.phase === 'reverting' ? ' (putting hosts back)' : ''}` +
        (event.data.error ? `: ${event.data.error}` : '')
      );
    case 'install.state':
      return (
        `${head}  ${event.app}@${event.data.version} ${event.env} ${event.data.host}  ` +
        `${event.data.purpose} ${event.data.state}${event.data.error ? `: ${event.data.error}` : ''}`
      );
    case 'install.step': {
      const { step, state, exitCode, durationMs } = event.data;
      const detail =
        state === 'running'
          ? ''
          : ` (${exitCode === null ? 'no exit code' : `exit ${exitCode}`}${durationMs === null ? '' : `, ${(durationMs / 1000).toFixed(1)} s`})`;
      return `${head}  ${event.app}@${event.data.version} ${event.env} ${event.data.host}  ${step} ${state}${detail}`;
    }
    case 'verdict.changed':
      return `${head}  ${event.app}@${event.data.version}  ${event.data.previous} → ${event.data.verdict} by ${event.data.by}${event.data.note ? `: ${event.data.note}` : ''}`;
    case 'host.connected':
    case 'host.disconnected':
    case 'host.facts':
      return `${head}  ${event.data.host} (${event.env})`;
    case 'note.changed': {
      const { noteId, change, actionId, version, label, by } = event.data;
      const on = label === null ? `${event.app}@${version}` : `label ${label}`;
      const what = actionId === null ? `note ${noteId}` : `action ${actionId} of note ${noteId}`;
      return `${head}  ${on}  ${what} ${change.replace('action-', '')} by ${by}`;
    }
    case 'host.health': {
      const { host, version, state, previous, restarts, answer } = event.data;
      const release = version === null ? event.app : `${event.app}@${version}`;
      const change = previous === null ? state : `${previous} → ${state}`;
      return (
        `${head}  ${release} ${event.env} ${host}  ${change}` +
        (restarts > 0 ? ` (${restarts} restarts in the last hour)` : '') +
        (answer ? `: ${answer}` : '')
      );
    }
    case 'alert.raised':
    case 'alert.cleared': {
      const { alertId, alertKind, message } = event.data;
      return `${head}  #${alertId} ${alertKind}  ${message}`;
    }
  }
}
