import type { Command } from 'commander';
import type { HostRecord } from '../../protocol/api.js';
import { caDaysLeftToWarn, dayOf } from '../../tls/ca-expiry.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable, shortTime } from '../output.js';
import { registerHostsShow } from './hosts-show.js';

/** `ferry hosts`: enrolled hosts, whether they are connected, and what they run. */
export function registerHosts(program: Command): void {
  const hosts = program
    .command('hosts')
    .description('list enrolled hosts: environment, roles, connection, facts and what each runs')
    .option('--env <env>', 'only the hosts of this environment')
    .option('--json', 'print the list as JSON, facts included')
    .action(async (options: { env?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { hosts, insecureHttp, caExpiresAt } = await (
        await connect(globals)
      ).hostList(options.env);
      if (insecureHttp) {
        process.stderr.write(
          'WARNING: this server speaks plain HTTP (--insecure-http): tokens, variables and bundles cross the network in clear.\n',
        );
      }
      const caDaysLeft = caExpiresAt === undefined ? undefined : caDaysLeftToWarn(caExpiresAt);
      if (caExpiresAt !== undefined && caDaysLeft !== undefined) {
        process.stderr.write(
          `WARNING: the server's CA ends on ${dayOf(caExpiresAt)} (${caDaysLeft} days left): agents and the CLI trust only it, so the hosts must be enrolled again with a new one before then (see the server's log).\n`,
        );
      }
      if (globals.json) {
        printJson(hosts);
        return;
      }
      printTable(
        hosts,
        [
          ['HOST', (h) => h.name],
          ['ENV', (h) => h.env],
          ['ROLES', (h) => h.roles.join(',')],
          ['STATE', state],
          ['RUNS', runs],
          ['NODE', (h) => h.facts?.runtimes.node],
          ['LOAD', (h) => h.facts?.load?.[0]],
        ],
        'No hosts yet: make a join string with `ferry tokens create --role agent --env ENV`, then run `ferry agent --join-file FILE --env ENV --roles R --root DIR` on the host.',
      );
    });

  registerHostsShow(hosts);

  hosts
    .command('remove <name>')
    .description(
      'remove a host (admin): its tokens are revoked, its connection closed, and its name may be enrolled again',
    )
    .action(async (name: string, _options: unknown, command: Command) => {
      await (await connect(command.optsWithGlobals<GlobalOptions>())).removeHost(name);
      process.stdout.write(`Removed ${name}\n`);
    });
}

function state(host: HostRecord): string {
  if (host.revokedAt) return `cut off ${shortTime(host.revokedAt)}`;
  return host.connected ? 'connected' : `last seen ${shortTime(host.lastSeenAt)}`;
}

function runs(host: HostRecord): string {
  return Object.entries(host.facts?.apps ?? {})
    .filter(([, a]) => a.current !== null)
    .map(([app, a]) => `${app}@${a.current}`)
    .join(' ');
}
