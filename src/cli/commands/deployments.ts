import type { Command } from 'commander';
import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import { countTextSchema } from '../../protocol/fields.js';
import { isActiveDeployment } from '../../protocol/lifecycle.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import {
  bakeLine,
  cancelledHosts,
  followDeployment,
  installLine,
  summary,
} from '../follow-deployment.js';
import { printable, printJson, printTable, shortTime } from '../output.js';

/**
 * The variables each install was sent with, a secret's value masked; hosts that
 * got the same ones share a line.
 */
export function variableLines(deployment: DeploymentRecord): string[] {
  const byText = new Map<string, string[]>();
  for (const install of deployment.installs) {
    if (!install.variables) continue;
    const text =
      install.variables.length === 0
        ? '(none)'
        : install.variables
            .map((v) => `${v.name}=${v.secret ? '******** (secret)' : (v.value ?? '')}`)
            .join(' ');
    const label = `${install.host}${install.purpose === 'deploy' ? '' : ` (${install.purpose} @${install.version})`}`;
    byText.set(text, [...(byText.get(text) ?? []), label]);
  }
  if (byText.size === 0) return [];
  return ['variables:', ...[...byText].map(([text, hosts]) => `  ${hosts.join(', ')}: ${text}`)];
}

/** `ferry deployments [--app A] [--env E]`: deployments, newest first. */
export function registerDeployments(program: Command): void {
  const deployments = program
    .command('deployments')
    .description('list deployments, newest first: app, version, environment, state, who and when')
    .option('--app <app>', 'only this app')
    .option('--env <env>', 'only this environment')
    .option('--limit <n>', 'at most this many (default 20)')
    .option('--json', 'print the list as JSON, installs included')
    .action(async (options: { app?: string; env?: string; limit?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const deployments = await (
        await connect(globals)
      ).deployments({
        ...(options.app === undefined ? {} : { app: options.app }),
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.limit === undefined
          ? {}
          : { limit: parseArg(countTextSchema(1, 1000), options.limit, '--limit') }),
      });
      if (globals.json) {
        printJson(deployments);
        return;
      }
      printTable(
        deployments,
        [
          ['ID', (d) => d.id],
          ['BUNDLE', (d) => `${d.app}@${d.version}`],
          ['ENV', (d) => d.env],
          ['KIND', (d) => d.kind],
          ['STATE', (d) => (d.state === 'baking' ? (bakeLine(d) ?? d.state) : d.state)],
          ['HOSTS', (d) => d.installs.filter((i) => i.purpose === 'deploy').length],
          ['BY', (d) => startedBy(d)],
          ['AT', (d) => shortTime(d.createdAt)],
        ],
        'No deployments yet: `ferry deploy <app>@<version> --env ENV`.',
      );
    });

  deployments
    .command('resume <id>')
    .description(
      'resume a deployment paused after a bad bake: it goes on as it is (the next batch, or its end)',
    )
    .option('--json', 'print the deployment as JSON')
    .action((id: string, _options: unknown, command: Command) => resume(id, command));

  deployments
    .command('rollback <id>')
    .description(
      'roll back a deployment that is baking or paused: the hosts done go back to the release before',
    )
    .option('--json', 'print the deployment as JSON')
    .action((id: string, _options: unknown, command: Command) => rollBack(id, command));

  program
    .command('deployment <id> [then]')
    .description(
      'show one deployment host by host; --follow follows it to its end. `ferry deployment resume|rollback <id>` is `ferry deployments resume|rollback <id>`',
    )
    .option('--follow', 'follow it until it ends; exits 0 only if it succeeded')
    .option('--json', 'print the deployment as JSON')
    .action(
      async (
        first: string,
        then: string | undefined,
        options: { follow?: boolean },
        command: Command,
      ) => {
        if (then !== undefined) {
          if (first === 'resume') return resume(then, command);
          if (first === 'rollback') return rollBack(then, command);
          command.error(
            `error: ferry deployment takes one deployment id, or resume|rollback and an id (got ${printable(first)} ${printable(then)})`,
          );
        }
        return show(first, options, command);
      },
    );

  program
    .command('cancel <deployment>')
    .description(
      'cancel a pending or running deployment: no new host is sent it, one installing finishes; the desired release stays the one before',
    )
    .option('--json', 'print the cancelled deployment as JSON')
    .action(async (id: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const deployment = await (await connect(globals)).cancelDeployment(id);
      if (globals.json) printJson(deployment);
      else {
        // What each host runs now: the hosts that were installing finish.
        for (const line of [`${deployment.id}: cancelled`, ...cancelledHosts(deployment)])
          process.stdout.write(`${printable(line)}\n`);
      }
    });
}

/** `ferry deployment <id>`: one deployment host by host, or followed to its end. */
async function show(id: string, options: { follow?: boolean }, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const api = await connect(globals);
  const deployment = await api.deployment(id);
  if (options.follow) {
    process.exitCode = await followDeployment(api, deployment, { json: globals.json });
    return;
  }
  if (globals.json) {
    printJson(deployment);
    return;
  }
  const lines = [
    `${deployment.id}: ${deployment.kind} ${deployment.app}@${deployment.version} to ${deployment.env}, ${deployment.state}` +
      ` (by ${startedBy(deployment)}, ${shortTime(deployment.createdAt)})`,
    ...deployment.installs.map(installLine),
    ...[bakeLine(deployment)].filter((l) => l !== undefined),
    ...(isActiveDeployment(deployment.state) ? [] : summary(deployment)),
    ...variableLines(deployment),
  ];
  for (const line of lines) process.stdout.write(`${printable(line)}\n`);
}

/** `ferry deployments resume <id>` (also `ferry deployment resume <id>`). */
async function resume(id: string, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const deployment = await (await connect(globals)).resumeDeployment(id);
  if (globals.json) printJson(deployment);
  else process.stdout.write(`${printable(`${deployment.id}: resumed (${deployment.state})`)}\n`);
}

/** `ferry deployments rollback <id>` (also `ferry deployment rollback <id>`). */
async function rollBack(id: string, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const deployment = await (await connect(globals)).rollbackBakingDeployment(id);
  if (globals.json) printJson(deployment);
  else
    process.stdout.write(
      `${printable(`${deployment.id}: rolling back: ${deployment.error ?? ''}`)}\n`,
    );
}

/** Who started a deployment; for an automatic one, its policy and who set it off. */
function startedBy(deployment: DeploymentRecord): string {
  return deployment.triggeredBy
    ? `${deployment.createdBy}, triggered by ${deployment.triggeredBy}`
    : deployment.createdBy;
}
