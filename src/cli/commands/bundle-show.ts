import type { Command } from 'commander';
import {
  developerStatement,
  parsePublicKey,
  serverStatement,
  verifyStatement,
} from '../../bundle/bundle-signature.js';
import { type BundleRecord, type BundleSignature, bundleRefSchema } from '../../protocol/api.js';
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
        ...signatureLines(bundle),
      ]);
    });
}

/**
 * Two lines per signature, each checked here over the record as shown: who
 * signed (the server's key, then developers' by name, or by fingerprint), and
 * the signature's value. One that does not verify names no one: a key alone
 * proves nothing.
 */
function signatureLines(bundle: BundleRecord): [string, string][] {
  if (bundle.signatures.length === 0) return [['signed', 'not signed']];
  return bundle.signatures.flatMap((s): [string, string][] => [
    ['signed', signerLine(bundle, s)],
    ['signature', s.signature],
  ]);
}

function signerLine(bundle: BundleRecord, s: BundleSignature): string {
  const key = s.by === 'server' ? `the server's key ${s.keyId}` : `developer key ${s.keyId}`;
  if (!verifies(bundle, s)) {
    return `signature does not verify (${key}): the bundle's record changed since it was signed, or the signature is not that key's`;
  }
  // Checked here with the key it carries; the server also checks its own with its own key.
  if (s.verified === false) {
    return `signature does not verify (${key}): ${s.problem ?? 'the server says so'}`;
  }
  return s.by === 'server'
    ? `by the server (key ${s.keyId})`
    : `by ${s.name ?? 'a key the server does not name'} (developer key ${s.keyId})`;
}

function verifies(bundle: BundleRecord, s: BundleSignature): boolean {
  let key;
  try {
    key = parsePublicKey(s.publicKey, 'the signature');
  } catch {
    return false;
  }
  const statement = s.by === 'server' ? serverStatement(bundle) : developerStatement(bundle);
  return verifyStatement(key, statement, s.signature);
}
