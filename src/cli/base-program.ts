import { Command } from 'commander';
import { SERVER_VERSION } from '../version.js';

/**
 * The `ferry` program with its global options and no command yet: `main` adds
 * the client commands (src/cli/cli-program.ts) and the server, agent and demo
 * faces — or only the one command asked for, so that `ferry agent` does not
 * load the client's command tree, nor `ferry rollback` the other commands.
 */
export function createBaseProgram(): Command {
  return new Command('ferry')
    .description('Ferry: bundle an app, push it, ship it to QA, promote it to production.')
    .version(SERVER_VERSION)
    .option(
      '--server <url>',
      'the Ferry server (default: FERRY_SERVER, `ferry login`, or http://127.0.0.1:7400)',
    )
    .option('--token <token>', 'API token (default: FERRY_TOKEN, or what `ferry login` saved)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true });
}

/** The global options that take a value, which may come before the command's name. */
const GLOBAL_OPTIONS_WITH_VALUE = ['--server', '--token'];

/**
 * The command a `ferry` command line names (`agent` in `ferry --server URL agent
 * --root …`), or undefined when anything but the global options comes before it
 * (`ferry --help agent`): then the whole program is built, as commander decides.
 *
 * @example
 *   commandNamed(['--server', 'https://ferry:7400', 'agent', '--root', '/srv']); // 'agent'
 *   commandNamed(['-h']); // undefined
 */
export function commandNamed(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (GLOBAL_OPTIONS_WITH_VALUE.includes(arg)) {
      i++;
      continue;
    }
    if (GLOBAL_OPTIONS_WITH_VALUE.some((option) => arg.startsWith(`${option}=`))) continue;
    return arg.startsWith('-') ? undefined : arg;
  }
  return undefined;
}

/**
 * Whether a `ferry` command line asks only for the version (`ferry --version`,
 * `ferry -V`): then no command need be added, nor its module loaded.
 */
export function isVersionOnly(args: string[]): boolean {
  return args.length === 1 && (args[0] === '--version' || args[0] === '-V');
}
