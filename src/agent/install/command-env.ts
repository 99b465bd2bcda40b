import path from 'node:path';
import { commandReferences } from '../../bundle/variable-references.js';
import { FerryError } from '../../protocol/errors.js';
import type { InstallJob } from '../../protocol/messages.js';
import { VENV_DIR } from './dependency-reuse.js';

/**
 * The environment of hooks, commands, migrations, health commands and (with its
 * `service.env` on top) the service: explicit, never a login shell's. The base
 * (PATH, HOME, LANG, PYTHONUNBUFFERED and the `FERRY_*` facts of the release;
 * for a `runtime: python` app, its virtualenv's `bin` first on PATH and `VIRTUAL_ENV`) and the variables
 * the release's own manifest section refers to as `${NAME}` — not every
 * variable in scope, which would hand each app the other apps' secrets.
 */
export function commandEnv(
  host: { path: string; home: string },
  job: InstallJob,
  version: number,
  releaseDir: string,
  referenced: string[],
  vars: Record<string, string> = job.vars,
  runtime?: 'node' | 'python',
): Record<string, string> {
  const used = Object.fromEntries(
    referenced.flatMap((name) => {
      const value = vars[name];
      return value === undefined ? [] : [[name, value]];
    }),
  );
  // A Python app's commands and service run in its release's own virtualenv.
  const venv = runtime === 'python' ? path.join(releaseDir, VENV_DIR) : null;
  return {
    PATH: venv === null ? host.path : `${path.join(venv, 'bin')}${path.delimiter}${host.path}`,
    ...(venv === null ? {} : { VIRTUAL_ENV: venv }),
    HOME: host.home,
    LANG: 'C.UTF-8',
    // Python buffers stdout written to a file or pipe: a service's log would stay
    // empty for as long as it runs, and a step's output arrive all at its end.
    // A service's `service.env` may set it otherwise ('' turns it off).
    PYTHONUNBUFFERED: '1',
    ...used,
    FERRY_APP: job.app,
    FERRY_VERSION: String(version),
    FERRY_RELEASE_DIR: releaseDir,
  };
}

/**
 * The agent's own check of what the server refuses at deploy time: a secret
 * filled into a command line would be in the process's arguments (`ps`).
 */
export function refuseSecretsInCommands(section: Record<string, unknown>, secrets: string[]): void {
  const secret = new Set(secrets);
  const found = commandReferences(section).filter((r) => secret.has(r.variable));
  if (found.length === 0) return;
  throw new FerryError(
    'E_SECRET_IN_COMMAND',
    `The manifest puts secret variables into command lines: ${found
      .map((r) => `\${${r.variable}} in ${r.where}`)
      .join(', ')}; pass them through service.env instead`,
    { secrets: found },
  );
}
