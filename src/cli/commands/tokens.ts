import { type Command, Option } from 'commander';
import { ROLES, tokenCreateBodySchema } from '../../protocol/api.js';
import { encodeJoinString } from '../../tls/join-string.js';
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
    .option(
      '--join',
      'print a join string (the server, the token and its CA) instead of the bare token; always so for --role agent',
    )
    .option('--json', 'print the token, its join string and its record as JSON')
    .addHelpText(
      'after',
      "\nA join string carries the token and the fingerprint of the server's CA: `ferry agent\n" +
        '--join-file FILE` and `ferry login --join FILE` trust exactly that CA from the first request.\n' +
        'It holds the token: keep it as secret as one.\n\n' +
        'Examples:\n  ferry tokens create --role deployer --name ci\n' +
        '  (umask 077; ferry tokens create --role agent --env qa > /etc/ferry/join)   # on the host: ferry agent --join-file /etc/ferry/join …',
    )
    .action(
      async (
        options: { role: string; env?: string; name?: string; join?: boolean },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const body = parseArg(
          tokenCreateBodySchema,
          { role: options.role, env: options.env, name: options.name },
          'token',
        );
        const api = await connect(globals);
        const created = await api.createToken(body);
        // The server as this CLI reaches it, and the CA it trusts there (the server says which).
        const join = encodeJoinString({
          server: api.baseUrl,
          token: created.token,
          ca: created.caFingerprint ?? null,
        });
        if (globals.json) {
          printJson({ ...created, join });
          return;
        }
        const about =
          `Token ${created.id} (${created.name}, role ${created.role}${created.env ? `, env ${created.env}` : ''}). ` +
          'It is shown only now: keep it somewhere safe.';
        if (created.role === 'agent') {
          process.stdout.write(`${join}\n`);
          process.stderr.write(
            `${about}\nThat is a join string: ${created.caFingerprint ? `it pins this server's CA ${created.caFingerprint}` : 'the server has no CA of its own to pin'}. ` +
              'On the host, save it in a file only root reads (or put it in FERRY_JOIN) and run:\n' +
              `  ferry agent --join-file /etc/ferry/join --env ${created.env ?? 'ENV'} --roles ROLES --root /srv/ferry\n`,
          );
          return;
        }
        process.stdout.write(`${options.join ? join : created.token}\n`);
        process.stderr.write(
          `${about}${options.join ? '\nThat is a join string: use it with `ferry login --join FILE`.' : ''}\n`,
        );
      },
    );

  tokens
    .command('list')
    .description(
      'list tokens (never their secrets); a host credential its rotation replaced only with --all',
    )
    .option('--all', 'also list the host credentials their rotation replaced')
    .option('--json', 'print the list as JSON')
    .action(async (options: { all?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const list = await (await connect(globals)).tokens({ all: options.all === true });
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
        ['EXPIRES', (t) => shortTime(t.expiresAt)],
        [
          'REVOKED',
          (t) => (t.superseded ? `${shortTime(t.revokedAt)} (rotated)` : shortTime(t.revokedAt)),
        ],
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
