import path from 'node:path';
import type { Command } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printJson } from '../output.js';
import { formatTransfer, ProgressLine } from '../progress.js';

/** `ferry bundle download <app>@<version>`: fetches a bundle file, checked by sha256. */
export function registerBundleDownload(bundle: Command): void {
  bundle
    .command('download <ref>')
    .description('download a bundle from the server; its sha256 is checked')
    .option('--out <file>', 'where to write it (default: ./<app>-<version>.tar.gz)')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, options: { out?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
      const out = path.resolve(options.out ?? `${app}-${version}.tar.gz`);
      const progress = new ProgressLine(process.stderr, globals.json === true);
      const startedAt = Date.now();
      const result = await (
        await connect(globals)
      ).download(app, version, out, (done, total) =>
        progress.update(`Downloading ${ref}: ${formatTransfer(done, total, startedAt)}`),
      );
      progress.done(`Downloaded ${ref}: ${formatTransfer(result.size, result.size, startedAt)}`);
      if (globals.json) printJson({ file: out, ...result });
      else process.stdout.write(`${out}\nsha256 ${result.sha256}\n`);
    });
}
