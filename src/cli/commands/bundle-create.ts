import type { Command } from 'commander';
import type { GlobalOptions } from '../cli-context.js';
import { makeBundle } from '../make-bundle.js';
import { printJson } from '../output.js';

/** `ferry bundle <dir>`: makes a reproducible bundle file of one app. */
export function registerBundleCreate(bundle: Command): void {
  bundle
    .command('create <dir>', { isDefault: true })
    .description('make a bundle of one app of the source tree in <dir> (the folder with ferry.yml)')
    .option('--app <name>', 'the app to bundle, when ferry.yml defines several')
    .option('--out <file>', 'where to write the bundle (default: ./<app>[-<label>].tar.gz)')
    .option('--label <label>', 'a free-form label carried by the bundle, such as 0.4.0')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry bundle .\n  ferry bundle ~/src/shop --app cart --label 0.4.0 --out cart.tar.gz',
    )
    .action(
      async (
        dir: string,
        options: { app?: string; out?: string; label?: string },
        command: Command,
      ) => {
        const { json } = command.optsWithGlobals<GlobalOptions>();
        const created = await makeBundle({ sourceDir: dir, ...options, quiet: json === true });
        if (json) {
          const { file, size, sha256, meta } = created;
          printJson({
            file,
            app: meta.app,
            label: meta.label,
            size,
            sha256,
            files: meta.files.length,
            git: meta.git,
          });
          return;
        }
        process.stdout.write(`${created.file}\nsha256 ${created.sha256}\n`);
      },
    );
}
