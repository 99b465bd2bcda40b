import { type Command, Option } from 'commander';
import { ROLES, tokenCreateBodySchema } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printJson, printTable, shortTime } from '../output.js';

/** `ferry tokens create | list | revoke`: API tokens (admin only). */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('manage API tokens (needs an admin token)');

  tokens
    .command('create')
    .description('make a token; it is shown once, and the server keeps only its hash')
    .addOption(
      new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory(),
    )
    .option('--env <env>', 'the environment the token is for (agents, deployers)')
    .option('--name <name>', 'a name shown in records (who pushed, who deployed)')
    .option('--json', 'print the token and its record as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry tokens create --role deployer --name ci\n  ferry tokens create --role agent --env qa',
    )
    .action(async (options: { role: string; env?: string; name?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const body = parseArg(
        tokenCreateBodySchema,
        { role: options.role, env: options.env, name: options.name },
        'token',
      );
      const created = await (await connect(globals)).createToken(body);
      if (globals.json) {
        printJson(created);
        return;
      }
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `Token ${created.id} (${created.name}, role ${created.role}${created.env ? `, env ${created.env}` : ''}). ` +
          'It is shown only now: keep it somewhere safe.\n',
      );
    });

  tokens
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print the list as JSON')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const list = await (await connect(globals)).tokens();
      if (globals.json) {
        printJson(list);
        return;
      }
      printTable(list, [
        ['ID', (t) => t.id],
        ['NAME', (t) => t.name],
        ['ROLE', (t) => t.role],
        ['ENV', (t) => t.env],
        ['CREATED', (t) => shortTime(t.createdAt)],
        ['LAST USED', (t) => shortTime(t.lastUsedAt)],
        ['REVOKED', (t) => shortTime(t.revokedAt)],
      ]);
    });

  tokens
    .command('revoke <id>')
    .description('revoke a token; calls made with it are refused from now on')
    .action(async (id: string, _options: unknown, command: Command) => {
      await (await connect(command.optsWithGlobals<GlobalOptions>())).revokeToken(id);
      process.stdout.write(`Revoked ${id}\n`);
    });
}
