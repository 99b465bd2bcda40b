import type { Command } from 'commander';
import { type BundleSignature, bundleRefSchema } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printFields, printJson } from '../output.js';
import { formatBytes } from '../progress.js';

/** `ferry bundle show <app>@<version>`: one bundle's record. */
export function registerBundleShow(bundle: Command): void {
  bundle
    .command('show <ref>')
    .description(
      'show one bundle: version, label, commit, size, sha256, who pushed it and when, and who signed it',
    )
    .option('--json', 'print the record as JSON')
    .addHelpText('after', '\nExample:\n  ferry bundle show cart@12')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<GlobalOptions>();
      const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
      const bundle = await (await connect(options)).bundleWithVerdict(app, version);
      if (options.json) {
        printJson(bundle);
        return;
      }
      printFields([
        ['bundle', `${bundle.app}@${bundle.version}`],
        ['label', bundle.label],
        ['commit', bundle.commit ? `${bundle.commit}${bundle.dirty ? ' (dirty tree)' : ''}` : null],
        ['size', `${formatBytes(bundle.size)} (${bundle.size} bytes), ${bundle.fileCount} files`],
        ['sha256', bundle.sha256],
        ['created', bundle.createdAt],
        ['pushed', `${bundle.pushedAt} by ${bundle.pushedBy}`],
        ['role', (bundle.manifest as { role?: string }).role],
        ['verdict', bundle.verdict],
        ...signatureLines(bundle.signatures),
      ]);
    });
}

/** One line per signature: the server's key, then developers' by name (or fingerprint). */
function signatureLines(signatures: BundleSignature[]): [string, string][] {
  if (signatures.length === 0) return [['signed', 'not signed']];
  return signatures.map((s) => [
    'signed',
    s.by === 'server'
      ? `by the server (key ${s.keyId})`
      : `by ${s.name ?? 'a key the server does not name'} (developer key ${s.keyId})`,
  ]);
}
