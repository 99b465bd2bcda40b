import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { makeBundle } from '../make-bundle.js';
import { printJson } from '../output.js';
import { startedLines } from '../follow-deployment.js';
import { formatTransfer, ProgressLine } from '../progress.js';

/** `ferry push <dir|file>`: bundles a source tree (or takes a bundle file) and pushes it. */
export function registerPush(program: Command): void {
  program
    .command('push <source>')
    .description(
      'push a bundle to the server, which gives it the next version; <source> is a source tree (bundled first) or a bundle file',
    )
    .option('--app <name>', 'the app to bundle, when ferry.yml defines several')
    .option('--label <label>', 'a free-form label for the bundle, such as 0.4.0')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry push .\n  ferry push ~/src/shop --app cart --label 0.4.0\n  ferry push cart-0.4.0.tar.gz',
    )
    .action(async (source: string, options: { app?: string; label?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const api = await connect(globals);
      const found = await stat(source).catch(() => undefined);
      if (!found)
        throw new FerryError('E_SOURCE_NOT_FOUND', `No such file or folder: ${source}`, {
          path: source,
        });

      let file = source;
      let tempDir: string | undefined;
      try {
        if (found.isDirectory()) {
          tempDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-push-'));
          const created = await makeBundle({
            sourceDir: source,
            app: options.app,
            label: options.label,
            out: path.join(tempDir, 'bundle.tar.gz'),
            quiet: globals.json === true,
          });
          file = created.file;
        } else if (options.app) {
          throw new FerryError(
            'E_BAD_REQUEST',
            '--app applies to a source tree; a bundle file already names its app',
          );
        }
        const progress = new ProgressLine(process.stderr, globals.json === true);
        const startedAt = Date.now();
        const result = await api.push(file, {
          label: found.isDirectory() ? undefined : options.label,
          onProgress: (done, total) =>
            progress.update(`Uploading: ${formatTransfer(done, total, startedAt)}`),
        });
        const { size } = result.bundle;
        progress.done(`Uploaded: ${formatTransfer(size, size, startedAt)}`);
        if (globals.json) {
          printJson(result);
          return;
        }
        const { app, version, sha256 } = result.bundle;
        process.stdout.write(
          `${app}@${version}${result.created ? '' : ' (already pushed: same sha256)'}\nsha256 ${sha256}\n`,
        );
        for (const line of startedLines(result.deployments)) process.stdout.write(`${line}\n`);
      } finally {
        if (tempDir) await rm(tempDir, { recursive: true, force: true });
      }
    });
}
