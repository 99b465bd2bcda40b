import type { Command } from 'commander';
import {
  type VariableRecord,
  type VariableScopeQuery,
  variableNameSchema,
  variableSetBodySchema,
} from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable, shortTime } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** The scope options every `ferry vars` command takes. */
interface ScopeOptions {
  env?: string;
  role?: string;
  host?: string;
  app?: string;
}

/** `ferry vars set | list | unset`: variables for `${NAME}` in manifests, per scope. */
export function registerVars(program: Command): void {
  const vars = program
    .command('vars')
    .description(
      'manage variables for ${NAME} in ferry.yml: global, or per environment, role or host',
    )
    .addHelpText(
      'after',
      '\nThe narrowest scope wins, and within a scope the value for the app (--app):\n' +
        "  host+app > host > the host's own --var > role+app > role > env+app > env > app > global.\n" +
        'A value for the app in a wider scope beside a different one for every app in a narrower\n' +
        'scope is ambiguous: the deployment is refused, naming both.\n\n' +
        'Example: two apps on one host, each its own port:\n' +
        '  ferry vars set PORT=8081 --app cart --host web-1\n' +
        '  ferry vars set PORT=8082 --app catalogue --host web-1',
    );

  withScope(
    vars
      .command('set <assignment>')
      .description(
        'set NAME=VALUE in one scope (none: global), or NAME alone with the value read from stdin (for secrets: arguments show in `ps`); admin, or deployer outside prod',
      ),
    'the scope to set it in',
  )
    .option('--secret', 'keep the value secret: never shown, masked in install logs')
    .option('--json', 'print the variable as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry vars set REDIS_HOST=redis.qa --env qa\n  ferry vars set DB_PASSWORD --env qa --secret < password.txt\n  ferry vars set PORT=8080 --host qa-web-1',
    )
    .action(
      async (
        assignment: string,
        options: ScopeOptions & { secret?: boolean },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const equals = assignment.indexOf('=');
        if (equals >= 0 && options.secret) {
          // `ps` and shell history show a command's arguments.
          process.stderr.write(
            'warning: the secret was on the command line, where `ps` and shell history show it; ' +
              `next time give only the name and the value on stdin: ferry vars set ${assignment.slice(0, equals)} --secret < file\n`,
          );
        }
        const name = parseArg(
          variableNameSchema,
          equals < 0 ? assignment : assignment.slice(0, equals),
          'variable name',
        );
        const value =
          equals < 0 ? await valueFromStdin(name, options.secret) : assignment.slice(equals + 1);
        const body = parseArg(
          variableSetBodySchema,
          {
            name,
            value,
            secret: options.secret ?? false,
            ...scopeFrom(options),
          },
          'variable',
        );
        const { created, variable } = await (await connect(globals)).setVariable(body);
        if (globals.json) {
          printJson(variable);
          return;
        }
        process.stdout.write(
          `${created ? 'Set' : 'Replaced'} ${variable.name} ${scopeText(variable)}${variable.secret ? ' (secret)' : ''}\n`,
        );
      },
    );

  withScope(
    vars
      .command('list')
      .description('list variables, secret values hidden: all, or those of one scope'),
    'only the variables set in this scope',
  )
    .option('--json', 'print the list as JSON (a secret has value null)')
    .action(async (options: ScopeOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const list = await (await connect(globals)).variables(scopeFrom(options));
      if (globals.json) {
        printJson(list);
        return;
      }
      printTable(
        list,
        [
          ['NAME', (v) => v.name],
          ['SCOPE', scopeLabel],
          ['VALUE', (v) => (v.secret ? '•••• (secret)' : JSON.stringify(v.value))],
          ['UPDATED', (v) => shortTime(v.updatedAt)],
          ['BY', (v) => v.updatedBy],
        ],
        'No variables yet: set one with `ferry vars set NAME=VALUE [--env E | --role R | --host H]`.',
      );
    });

  withScope(
    vars.command('unset <name>').description('remove a variable from one scope (none: global)'),
    'the scope to remove it from',
  ).action(async (name: string, options: ScopeOptions, command: Command) => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const checked = parseArg(variableNameSchema, name, 'variable name');
    const scope = scopeFrom(options);
    await (await connect(globals)).unsetVariable(checked, scope);
    process.stdout.write(`Unset ${checked} ${scopeText(recordScope(scope))}\n`);
  });
}

function withScope(command: Command, what: string): Command {
  return command
    .option('--env <env>', `${what}: an environment`)
    .option('--role <role>', `${what}: a role`)
    .option('--host <name>', `${what}: a host`)
    .option('--app <app>', `${what}: only for this app (with --env, --role, --host or none)`);
}

/** The one scope the options name; more than one is an error that says so. */
function scopeFrom(options: ScopeOptions): VariableScopeQuery {
  const given = (['env', 'role', 'host'] as const).filter((k) => options[k] !== undefined);
  if (given.length > 1) {
    throw new FerryError(
      'E_BAD_REQUEST',
      `Give at most one of --env, --role and --host (got ${given.map((k) => `--${k}`).join(' and ')}); none means a global variable`,
    );
  }
  const [key] = given;
  return {
    ...(key === undefined ? {} : { [key]: options[key] }),
    ...(options.app === undefined ? {} : { app: options.app }),
  };
}

type ShownScope = Pick<VariableRecord, 'scope' | 'target' | 'app'>;

function recordScope(scope: VariableScopeQuery): ShownScope {
  const app = scope.app ?? null;
  if (scope.env !== undefined) return { scope: 'env', target: scope.env, app };
  if (scope.role !== undefined) return { scope: 'role', target: scope.role, app };
  if (scope.host !== undefined) return { scope: 'host', target: scope.host, app };
  return { scope: 'global', target: null, app };
}

function scopeLabel(variable: ShownScope): string {
  const where = variable.target === null ? variable.scope : `${variable.scope} ${variable.target}`;
  return variable.app ? `${where}, app ${variable.app}` : where;
}

function scopeText(variable: ShownScope): string {
  const where = variable.target === null ? 'globally' : `for ${variable.scope} ${variable.target}`;
  return variable.app ? `${where} for app ${variable.app}` : where;
}

/**
 * A variable's value from stdin: all of it, less one final newline (a PEM key
 * keeps its lines). On a terminal, asked for, hidden when it is a secret.
 */
async function valueFromStdin(name: string, secret: boolean | undefined): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) return askHidden(`${name}${secret ? ' (not shown)' : ''}: `, secret === true);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') {
    throw new FerryError(
      'E_BAD_REQUEST',
      `No value for ${name}: give NAME=VALUE, or only the name with the value on stdin`,
    );
  }
  return text.replace(/\r?\n$/, '');
}

/** Reads one line from the terminal, without echoing it when `hidden`. */
function askHidden(prompt: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    if (hidden) stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    const done = (result: () => void) => {
      if (hidden) stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      result();
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done(() => resolve(value));
        if (char === '\u0003')
          return done(() => reject(new FerryError('E_BAD_REQUEST', 'Cancelled')));
        if (char === '\u007f') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
