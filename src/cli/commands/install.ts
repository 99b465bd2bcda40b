import type { Command } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { followInstall } from '../follow-install.js';
import { parseArg } from '../parse-arg.js';
import { printable, printJson } from '../output.js';

/** `ferry install <app>@<version> --host NAME`: one install on one host, followed live. */
export function registerInstall(program: Command): void {
  program
    .command('install <ref>')
    .description(
      'install a bundle on one host and follow it to the end (admin); exits 0 only if it succeeded',
    )
    .requiredOption('--host <name>', 'the host to install on')
    .option('--detach', 'return at once with the install id')
    .option('--json', 'print the final install record as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ferry install hello@3 --host web-1\n  ferry logs <install-id>',
    )
    .action(async (ref: string, options: { host: string; detach?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
      const api = await connect(globals);
      if (!options.detach) {
        process.exitCode = await followInstall(api, { app, version, host: options.host }, globals);
        return;
      }
      const install = await api.createInstall({ app, version, host: options.host });
      if (globals.json) printJson(install);
      else
        process.stdout.write(`${printable(`install ${install.id}: ${ref} on ${install.host}`)}\n`);
    });
}
