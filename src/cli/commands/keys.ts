import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  keyFingerprint,
  newSigningKey,
  parsePrivateKey,
  parsePublicKey,
  publicKeyText,
} from '../../bundle/bundle-signature.js';
import { FerryError } from '../../protocol/errors.js';
import type { GlobalOptions } from '../cli-context.js';
import { printJson } from '../output.js';

/** `ferry keys create | show`: a developer's ed25519 key for signing pushes (no server needed). */
export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description("a developer's ed25519 key to sign bundles at push (`ferry push --sign`)");

  keys
    .command('create <file>')
    .description(
      "make an ed25519 private key in <file> (PEM, mode 0600; never overwritten) and print its public key for the server's developerKeys",
    )
    .option('--json', 'print the public key and fingerprint as JSON')
    .addHelpText(
      'after',
      '\nThe same key can be made with: openssl genpkey -algorithm ed25519 -out FILE' +
        '\n\nExample:\n  ferry keys create ~/.ferry/alice.key',
    )
    .action(async (file: string, _options: unknown, command: Command) => {
      const { json } = command.optsWithGlobals<GlobalOptions>();
      const { privateKeyPem, publicKey } = newSigningKey();
      try {
        await writeFile(file, privateKeyPem, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
        throw new FerryError(
          exists ? 'E_BAD_REQUEST' : 'E_SOURCE_NOT_FOUND',
          exists
            ? `${file} exists already: a key is never overwritten`
            : `Cannot write ${file}: ${(err as Error).message}`,
          { path: file },
        );
      }
      printKey(publicKeyText(publicKey), keyFingerprint(publicKey), json === true, file);
    });

  keys
    .command('show <file>')
    .description('print the public key and fingerprint of a key file (private or public, PEM)')
    .option('--json', 'print them as JSON')
    .action(async (file: string, _options: unknown, command: Command) => {
      const { json } = command.optsWithGlobals<GlobalOptions>();
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new FerryError('E_KEY_INVALID', `Cannot read ${file}: ${(err as Error).message}`, {
          key: file,
        });
      }
      const key = text.includes('PRIVATE KEY')
        ? createPublicKey(parsePrivateKey(text, file))
        : parsePublicKey(text, file);
      printKey(publicKeyText(key), keyFingerprint(key), json === true);
    });
}

function printKey(publicKey: string, keyId: string, json: boolean, made?: string): void {
  if (json) {
    printJson({ publicKey, keyId, ...(made === undefined ? {} : { file: made }) });
    return;
  }
  process.stdout.write(`${publicKey}\n`);
  process.stderr.write(
    `${made === undefined ? '' : `Private key in ${made} (mode 0600): keep it to yourself. `}Fingerprint ${keyId}.\n` +
      'On the server, name the public key above in developerKeys (developerKeys: { NAME: <key> }).\n',
  );
}
