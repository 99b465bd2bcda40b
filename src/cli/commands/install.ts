import type { Command } from 'commander';
import { bundleRefSchema, type InstallRecord } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
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
      let install = await api.createInstall({ app, version, host: options.host });
      const say = (line: string) => {
        if (!globals.json) process.stdout.write(`${printable(line)}\n`);
      };
      say(`install ${install.id}: ${ref} on ${install.host}`);
      if (options.detach) {
        if (globals.json) printJson(install);
        return;
      }
      const shown = new Map<string, string>();
      const since = Date.now();
      let waitingSaid = false;
      for (;;) {
        if (install.state === 'queued' && !waitingSaid && Date.now() - since > 5000) {
          const host = (await api.hosts()).find((h) => h.name === install.host);
          say(
            host?.connected
              ? `  queued: ${install.host} has not started it yet`
              : `  queued: ${install.host} is offline; it gets the install when it reconnects (Ctrl-C stops following, not the install)`,
          );
          waitingSaid = true;
        }
        for (const step of install.steps) {
          const line =
            step.state === 'running'
              ? `  ${step.step} ...`
              : `  ${step.step} ${step.state === 'succeeded' ? 'ok' : 'FAILED'} (${step.durationMs ?? 0} ms)` +
                (step.error ? `: ${step.error}` : '');
          if (shown.get(step.step) !== line) {
            say(line);
            shown.set(step.step, line);
          }
        }
        if (finished(install)) break;
        await new Promise((resolve) => setTimeout(resolve, 300));
        install = await api.install(install.id);
      }
      if (globals.json) printJson(install);
      if (install.state === 'succeeded') {
        say(`succeeded: ${install.host} runs ${ref}`);
        return;
      }
      say(
        `failed: ${install.error ?? 'unknown error'}${install.rolledBack ? ' (rolled back to the previous release)' : ''}`,
      );
      say(`logs: ferry logs ${install.id}`);
      process.exitCode = 1;
    });
}

function finished(install: InstallRecord): boolean {
  return install.state === 'succeeded' || install.state === 'failed';
}
