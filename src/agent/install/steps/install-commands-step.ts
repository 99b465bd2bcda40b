import { lstat, rm } from 'node:fs/promises';
import path from 'node:path';
import { runtimeVersion } from '../../runtime-probe.js';
import {
  copyDependencies,
  type DependencyKey,
  dependencyKey,
  dependencyRuntime,
  keyChange,
  lockfileNames,
  madeByInstall,
  readDependencyKey,
  relocatedVenvProblem,
  relocateVenv,
  removeDependencyKey,
  requirementsOf,
  topLevel,
  writeDependencyKey,
} from '../dependency-reuse.js';
import { makeVenv } from '../python-venv.js';
import { type InstallContext, type InstallStep, goingOn, passed } from './install-step.js';
import { runCommands } from './run-commands.js';

/**
 * The `beforeInstall` hooks, the install and the `afterInstall` hooks, in the
 * new release, each its own reported step. The install is the manifest's
 * `install` commands — for a `runtime: python` app, a virtualenv with its
 * requirements first — or, when the current release's dependencies were
 * installed from the same lockfile, runtime version and install commands, a
 * copy of them (`dependency-reuse.ts`).
 */
export const installCommandsStep: InstallStep = {
  name: 'install',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const { manifest, paths } = ctx;
    const hook = (name: string, commands: readonly string[]) =>
      runCommands(ctx, name, commands, paths.releaseDir, ctx.env);
    if (!passed(ctx, await hook('before-install', manifest.hooks.beforeInstall))) return;
    if (!(await install(ctx))) return;
    passed(ctx, await hook('after-install', manifest.hooks.afterInstall));
  },
};

/** Where reused dependencies come from, or why there are none to reuse. */
type ReusePlan = { from: number; key: DependencyKey } | { reason: string };

async function install(ctx: InstallContext): Promise<boolean> {
  const { manifest, paths, host, job } = ctx;
  // A record shipped in the bundle would pass for this install's own.
  await removeDependencyKey(paths.releaseDir);
  const runtime = await dependencyRuntime(manifest, paths.releaseDir);
  if (runtime === null)
    return passed(
      ctx,
      await runCommands(ctx, 'install', manifest.install, paths.releaseDir, ctx.env),
    );
  const version = host.runtimes
    ? (await host.runtimes())[runtime === 'node' ? 'node' : 'python3']
    : await runtimeVersion(runtime === 'node' ? 'node' : 'python3', host.path);
  // None of what decides throws: an unreadable file is as good as a missing one (no reuse).
  const key = await dependencyKey(runtime, paths.releaseDir, manifest.install, version, ctx.env);
  let plan = await reusePlan(ctx, runtime, key);
  const installed = await ctx.steps.step('install', async (context) => {
    if ('from' in plan) {
      const from = path.join(paths.releasesDir, String(plan.from), plan.key.folder);
      const to = path.join(paths.releaseDir, plan.key.folder);
      await copyDependencies(from, to);
      const problem =
        runtime === 'python'
          ? (await relocateVenv(to, from), await relocatedVenvProblem(to, from, ctx.env))
          : (await rm(path.join(to, '.cache'), { recursive: true, force: true }), null);
      if (problem === null) {
        context.out(
          `reused ${plan.key.folder} from releases/${plan.from}: ${lockfileNames(plan.key)} unchanged\n`,
        );
        await writeDependencyKey(paths.releaseDir, plan.key);
        return;
      }
      await rm(to, { recursive: true, force: true });
      plan = { reason: problem };
    }
    context.out(`installing afresh: ${plan.reason}\n`);
    const before = await topLevel(paths.releaseDir);
    if (runtime === 'python') {
      await makeVenv(context, {
        releaseDir: paths.releaseDir,
        env: ctx.env,
        host: host.name,
        app: job.app,
        timeoutMs: host.commandTimeoutMs,
      });
    }
    for (const command of manifest.install)
      await context.run(command, {
        cwd: paths.releaseDir,
        env: ctx.env,
        timeoutMs: host.commandTimeoutMs,
      });
    if (key === null) return;
    // What the install made besides the dependency folder would be missing from a copy of it.
    const made = await madeByInstall(
      paths.releaseDir,
      key.folder,
      before,
      await topLevel(paths.releaseDir),
    );
    // The next release compares with this, instead of reading this one's lockfiles again.
    await writeDependencyKey(
      paths.releaseDir,
      made.length === 0 ? key : { ...key, reusable: false, madeByInstall: made },
    );
  });
  return passed(ctx, installed);
}

/** Whether the current release's dependencies serve the new one: from where, or why not. */
async function reusePlan(
  ctx: InstallContext,
  runtime: 'node' | 'python',
  key: DependencyKey | null,
): Promise<ReusePlan> {
  const { manifest, paths, current, job } = ctx;
  const folder = runtime === 'node' ? 'node_modules' : '.venv';
  if (key === null) return { reason: `no ${runtime === 'node' ? 'lockfile' : 'requirements.txt'}` };
  if (manifest.reuseDependencies === false) return { reason: 'reuseDependencies is false' };
  if (runtime === 'python') {
    const { ownFiles } = await requirementsOf(paths.releaseDir);
    if (ownFiles !== null) return { reason: ownFiles };
  }
  if (current === null || current === job.version)
    return { reason: 'no current release to reuse dependencies from' };
  const currentDir = path.join(paths.releasesDir, String(current));
  const before = await readDependencyKey(currentDir);
  if (before === null)
    return {
      reason: `releases/${current} has no record of what its dependencies were installed from`,
    };
  if (before.reusable === false)
    return {
      reason: `the install commands also made ${(before.madeByInstall ?? []).join(', ')} in releases/${current}`,
    };
  const change = keyChange(before, key);
  if (change !== null) return { reason: `${change} since releases/${current}` };
  const source = await lstat(path.join(currentDir, folder)).catch(() => null);
  if (source === null) return { reason: `releases/${current} has no ${folder}` };
  if (!source.isDirectory())
    return {
      reason: `the ${folder} of releases/${current} is not a folder of its own (${source.isSymbolicLink() ? 'a symlink' : 'not a folder'})`,
    };
  // From the bundle, or a shared path: nothing to put there.
  if (await exists(path.join(paths.releaseDir, folder)))
    return { reason: `releases/${job.version} has a ${folder} of its own` };
  return { from: current, key };
}

async function exists(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => null)) !== null;
}
