import { createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import {
  type DeveloperSignedFields,
  developerStatement,
  parsePrivateKey,
  publicKeyText,
  signStatement,
} from '../../bundle/bundle-signature.js';
import { sha256File } from '../../bundle/hashing.js';
import { inspectBundle } from '../../bundle/inspect-bundle.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { makeBundle } from '../make-bundle.js';
import { printJson } from '../output.js';
import { followDeployment, isUnderway, startedLines } from '../follow-deployment.js';
import { formatTransfer, ProgressLine } from '../progress.js';

interface PushOptions {
  app?: string;
  label?: string;
  sign?: string;
  follow?: boolean;
}

/** `ferry push <dir|file>`: bundles a source tree (or takes a bundle file) and pushes it. */
export function registerPush(program: Command): void {
  program
    .command('push <source>')
    .description(
      'push a bundle to the server, which gives it the next version; <source> is a source tree (bundled first) or a bundle file',
    )
    .option('--app <name>', 'the app to bundle, when ferry.yml defines several')
    .option('--label <label>', 'a free-form label for the bundle, such as 0.4.0')
    .option(
      '--sign <keyfile>',
      "sign the bundle's app, sha256 and label with this ed25519 private key (PEM; `ferry keys create`)",
    )
    .option(
      '--follow',
      'follow the deployments the push starts (autoDeploy, QA by default) to their end; exits 0 only if they succeeded',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExits 1 when a deployment the push started was refused or failed at once (a missing variable):' +
        '\nthe bundle is pushed all the same, and its version is printed first.' +
        '\n\nExamples:\n  ferry push .\n  ferry push . --follow\n  ferry push . --sign ~/.ferry/alice.key\n  ferry push ~/src/shop --app cart --label 0.4.0\n  ferry push cart-0.4.0.tar.gz',
    )
    .action(async (source: string, options: PushOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const api = await connect(globals);
      const found = await stat(source).catch(() => undefined);
      if (!found)
        throw new FerryError('E_SOURCE_NOT_FOUND', `No such file or folder: ${source}`, {
          path: source,
        });

      // Read first: a wrong key file fails the push before anything is bundled.
      const signingKey =
        options.sign === undefined ? undefined : await readPrivateKey(options.sign);
      let file = source;
      let tempDir: string | undefined;
      try {
        let signed: DeveloperSignedFields | undefined;
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
          signed = { app: created.meta.app, sha256: created.sha256, label: created.meta.label };
        } else if (options.app) {
          throw new FerryError(
            'E_BAD_REQUEST',
            '--app applies to a source tree; a bundle file already names its app',
          );
        }
        if (signingKey && !signed) {
          // A bundle file: what it is comes from its own metadata (checked whole).
          const meta = await inspectBundle(createReadStream(file));
          signed = {
            app: meta.app,
            sha256: await sha256File(file),
            label: options.label ?? meta.label,
          };
        }
        const progress = new ProgressLine(process.stderr, globals.json === true);
        const startedAt = Date.now();
        const result = await api.push(file, {
          label: found.isDirectory() ? undefined : options.label,
          signature:
            signingKey && signed
              ? {
                  signature: signStatement(signingKey, developerStatement(signed)),
                  publicKey: publicKeyText(createPublicKey(signingKey)),
                }
              : undefined,
          onProgress: (done, total) =>
            progress.update(`Uploading: ${formatTransfer(done, total, startedAt)}`),
        });
        const { size } = result.bundle;
        progress.done(`Uploaded: ${formatTransfer(size, size, startedAt)}`);
        if (globals.json) printJson(result);
        else {
          const { app, version, sha256 } = result.bundle;
          process.stdout.write(
            `${app}@${version}${result.created ? '' : ' (already pushed: same sha256)'}\nsha256 ${sha256}\n`,
          );
          for (const line of startedLines(result.deployments)) process.stdout.write(`${line}\n`);
        }
        let code = 0;
        if (options.follow) {
          const underway = result.deployments.filter(isUnderway);
          if (underway.length === 0 && result.deployments.length === 0 && !globals.json)
            process.stdout.write('nothing to follow: no environment deploys a bundle on push\n');
          for (const started of underway) {
            const first = await api.deployment(started.id!);
            code = Math.max(code, await followDeployment(api, first, { json: globals.json }));
          }
        }
        // The push itself succeeded; a deployment it started that was refused
        // or failed at once did not, and the exit code says so.
        const refused = result.deployments.filter(
          (d) => d.id === null || (!isUnderway(d) && d.state !== 'succeeded'),
        );
        if (refused.length > 0) {
          const { app, version } = result.bundle;
          throw new FerryError(
            'E_AUTO_DEPLOY_FAILED',
            `${app}@${version} is pushed, but not deployed: ` +
              refused
                .map(
                  (d) =>
                    `${d.kind} to ${d.env} ${d.id === null ? 'was refused' : `${d.state}`}: ${d.error ?? 'no detail'}`,
                )
                .join('; '),
            {
              app,
              version,
              deployments: refused.map((d) => ({
                env: d.env,
                id: d.id,
                state: d.state,
                error: d.error,
              })),
            },
          );
        }
        process.exitCode = code;
      } finally {
        if (tempDir) await rm(tempDir, { recursive: true, force: true });
      }
    });
}

/** A developer's signing key from its file; a missing or wrong file is a clear error. */
async function readPrivateKey(file: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FerryError(
      'E_KEY_INVALID',
      `Cannot read the signing key ${file}: ${(err as Error).message}`,
      { key: file },
    );
  }
  return parsePrivateKey(text, file);
}
