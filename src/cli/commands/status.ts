import type { Command } from 'commander';
import type { AppStatus, DeploymentState, HostStatus } from '../../protocol/deployment-api.js';
import { pausedCommands } from '../follow-deployment.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable, printJson, shortTime } from '../output.js';

/** `ferry status [app]`: per app and environment, what should run and what runs. */
export function registerStatus(program: Command): void {
  program
    .command('status [app]')
    .description(
      'per app and environment: the desired version and its verdict, and each host with its version and health',
    )
    .option('--json', 'print the status as JSON')
    .action(async (app: string | undefined, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const apps = await (await connect(globals)).status(app);
      if (globals.json) {
        printJson(apps);
        return;
      }
      if (apps.length === 0) process.stdout.write('No apps yet: `ferry push <dir>`.\n');
      for (const line of statusLines(apps)) process.stdout.write(`${printable(line)}\n`);
    });
}

/** How the deployment under way in an environment is named by its state. */
const ACTIVE_WORDS: Partial<Record<DeploymentState, string>> = {
  pending: 'queued',
  running: 'deploying',
  baking: 'baking',
  paused: 'paused',
};

/** The status as lines for a person. */
export function statusLines(apps: AppStatus[]): string[] {
  const lines: string[] = [];
  for (const app of apps) {
    lines.push(`${app.app} (latest ${app.app}@${app.latestVersion})`);
    for (const env of app.environments) {
      const desired = env.desired
        ? `${app.app}@${env.desired.version} (${env.desired.verdict})`
        : 'nothing deployed';
      const active = env.active
        ? `; ${ACTIVE_WORDS[env.active.state] ?? env.active.state} @${env.active.version} (${env.active.id})`
        : '';
      lines.push(`  ${env.env}: ${desired}${active}`);
      if (env.active?.state === 'paused')
        lines.push(`    paused after a bad bake: run ${pausedCommands(env.active.id)}`);
      for (const host of env.hosts) {
        const version = host.version === null ? '-' : `@${host.version}`;
        const drift =
          !env.desired || host.version === env.desired.version || !host.connected
            ? ''
            : host.version !== null && host.version > env.desired.version
              ? `  (ahead of the desired @${env.desired.version}${aheadWhy(host.aheadOverMigrations)})`
              : `  (behind the desired @${env.desired.version})`;
        const last =
          host.lastInstall && host.lastInstall.state !== 'succeeded'
            ? `  last install @${host.lastInstall.version} ${host.lastInstall.state}`
            : '';
        lines.push(
          `    ${host.host}  ${version}  ${host.health}${serviceHealth(host.service)}${drift}${last}`,
        );
        if (host.service?.state === 'failing' && host.service.answer !== null)
          lines.push(`      ${host.service.answer}`);
        const changed = host.changedVariables ?? [];
        if (changed.length > 0)
          lines.push(
            `      ${changed.join(', ')} changed since this release was deployed: a deployment now would use ${changed.length === 1 ? 'its new value' : 'their new values'}`,
          );
      }
      if (env.hosts.length === 0) lines.push("    (no host with the app's role)");
    }
  }
  return lines;
}

/** Why catch-up leaves a host ahead: going back would cross migrations that ran there. */
function aheadWhy(versions: number[] | undefined): string {
  if (!versions || versions.length === 0) return '';
  const which = versions.map((v) => `@${v}`).join(', ');
  return `; the migrations of ${which} ran here: it stays until a deployment moves it`;
}

/**
 * Continuous health as its agent last reported it: `  failing since 14:02 (3 restarts)`
 * (UTC; the date too when not today), or nothing when not reported.
 */
export function serviceHealth(service: HostStatus['service'], now = new Date()): string {
  if (!service) return '';
  const when = shortTime(service.since);
  const today = service.since.slice(0, 10) === now.toISOString().slice(0, 10);
  const restarts =
    service.restarts === 0
      ? ''
      : ` (${service.restarts} restart${service.restarts === 1 ? '' : 's'} in the last hour)`;
  return `  ${service.state} since ${today ? when.slice(11) : when}${restarts}`;
}
