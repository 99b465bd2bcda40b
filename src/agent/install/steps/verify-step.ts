import type { KeyObject } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  keyFingerprint,
  serverStatement,
  verifyStatement,
} from '../../../bundle/bundle-signature.js';
import type { InstallJob } from '../../../protocol/messages.js';
import { checkBundleManifest, releaseManifestSection } from '../bundle-manifest-check.js';
import { StepFailure } from '../step-reporter.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Checks the fetched bundle's sha256 (hashed by `fetch` as it was downloaded,
 * not read again) against the job's, then the server's
 * signature over the bundle (app, version, sha256, size, label, commit) with the
 * server's key the agent got at enrolment: a bundle whose bytes and record were
 * both changed after the push (by someone with the server's disk) is refused
 * here, before anything of it is unpacked, and the host stays on its release.
 *
 * A release already on the host (a rollback, or the running version again) is
 * not fetched: the job's signature is checked all the same, and its manifest
 * section against the one in the release's own `ferry-bundle.json`, so a
 * changed record cannot start other commands there either.
 */
export const verifyStep: InstallStep = {
  name: 'verify',
  applies: (ctx) =>
    (ctx.mode === 'fresh' || ctx.mode === 'reuse' || ctx.mode === 'restart') && goingOn(ctx),
  async run(ctx) {
    const fresh = ctx.mode === 'fresh';
    const verified = await ctx.steps.step('verify', async (context) => {
      if (fresh) {
        const fetched = { file: ctx.archive, sha256: ctx.archiveSha256 };
        await ctx.host.fetcher.verify(fetched, ctx.job.sha256, context.out);
      }
      const key = await ctx.host.signingKey().catch((err: unknown) => {
        throw new StepFailure(
          `cannot check the bundle's signature: the server's signing key is unknown to this agent and could not be fetched (${(err as Error).message})`,
        );
      });
      try {
        context.out(`${checkSignature(ctx.job, key)}\n`);
      } catch (err) {
        // Not kept in the cache either: the next job fetches it again.
        if (fresh) await rm(ctx.archive, { force: true });
        throw err;
      }
      if (!fresh) {
        const { releaseDir } = ctx.paths;
        const carried = await releaseManifestSection(releaseDir, ctx.job.app);
        checkBundleManifest(ctx.job, carried, `releases/${ctx.job.version}`);
        context.out(
          `the job's manifest is the one releases/${ctx.job.version} was installed from\n`,
        );
      }
    });
    passed(ctx, verified);
  },
};

/**
 * Verifies the job's server signature with `key`: answers what it checked, or
 * throws a `StepFailure` saying why the bundle is refused.
 */
export function checkSignature(job: InstallJob, key: KeyObject): string {
  const ref = `${job.app}@${job.version}`;
  const keyId = keyFingerprint(key);
  if (job.signature === undefined) {
    throw new StepFailure(
      `refusing to unpack ${ref}: the job carries no signature, and this agent takes only bundles signed by the server's key ${keyId}`,
    );
  }
  const statement = serverStatement({
    app: job.app,
    version: job.version,
    sha256: job.sha256,
    size: job.size,
    label: job.label ?? null,
    commit: job.commit ?? null,
  });
  if (job.signature.keyId !== keyId || !verifyStatement(key, statement, job.signature.value)) {
    throw new StepFailure(
      `refusing to unpack ${ref}: its signature does not verify with the server's signing key ${keyId}` +
        (job.signature.keyId === keyId ? '' : ` (it was signed by ${job.signature.keyId})`) +
        ` — the bundle or its record (sha256 ${job.sha256}, ${job.size} bytes) was changed after the push`,
    );
  }
  return `signature by the server's key ${keyId} ok`;
}
