import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { FerryError } from '../../protocol/errors.js';
import { PYTHON_LOCKFILES, VENV_DIR, WHEELS_DIR } from './dependency-reuse.js';
import type { StepContext } from './step-reporter.js';

const run = promisify(execFile);

/** What a Python install runs in: the release, its command environment, and whose host it is. */
export interface VenvTarget {
  releaseDir: string;
  env: Record<string, string>;
  host: string;
  app: string;
  timeoutMs: number;
}

/**
 * Makes a `runtime: python` release's virtualenv (`.venv` in the release) and
 * installs its `requirements.txt` into it with pip — from the bundle's own
 * `wheels/` folder alone when it has one (`--no-index`: a host that reaches no
 * package index installs all the same). A host whose python3 lacks the venv
 * module fails first with `E_REQUIREMENTS_NOT_MET` naming the package to install.
 *
 * @example
 *   await makeVenv(context, { releaseDir, env, host: 'qa-1', app: 'api', timeoutMs });
 */
export async function makeVenv(context: StepContext, target: VenvTarget): Promise<void> {
  await checkVenvModule(target);
  const { releaseDir, env, timeoutMs } = target;
  const options = { cwd: releaseDir, env, timeoutMs };
  // Relative paths: the commands name no host path, and need no quoting.
  await context.run(`python3 -m venv ${VENV_DIR}`, options);
  const requirements = PYTHON_LOCKFILES[0];
  if (!(await isFile(path.join(releaseDir, requirements)))) {
    context.out(`no ${requirements}: an empty virtualenv\n`);
    return;
  }
  const wheels = await isDirectory(path.join(releaseDir, WHEELS_DIR));
  const from = wheels ? ` --no-index --find-links ${WHEELS_DIR}` : '';
  await context.run(
    `${VENV_DIR}/bin/python -m pip install --disable-pip-version-check --no-input${from} -r ${requirements}`,
    options,
  );
}

/** Fails with a message naming the package when python3 cannot make a virtualenv with pip in it. */
async function checkVenvModule(target: VenvTarget): Promise<void> {
  try {
    await run('python3', ['-c', 'import venv, ensurepip'], {
      cwd: target.releaseDir,
      env: target.env,
      timeout: 30_000,
    });
  } catch (err) {
    const { code, stderr } = err as NodeJS.ErrnoException & { stderr?: string };
    if (code === 'ENOENT') {
      throw new FerryError(
        'E_REQUIREMENTS_NOT_MET',
        `no python3 on the PATH of ${target.host}; ${target.app} has runtime: python`,
        { host: target.host, app: target.app, missing: 'python3' },
      );
    }
    const said = (stderr ?? '').trim().split('\n').at(-1) ?? '';
    throw new FerryError(
      'E_REQUIREMENTS_NOT_MET',
      `python3 on ${target.host} cannot make a virtualenv for ${target.app}` +
        `${said ? ` (${said})` : ''}: install the python3-venv package ` +
        '(apt-get install python3-venv python3-pip)',
      { host: target.host, app: target.app, missing: 'python3-venv' },
    );
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => null))?.isDirectory() ?? false;
}
