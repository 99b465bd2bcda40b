// What `ferry deploy`, `ferry promote` and `ferry rollback` do, apart from their
// declarations (./deploy.ts): loaded only when one of them runs, so that their
// --help loads no API client and no schema.
import type { Command } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import { versionTextSchema } from '../../protocol/fields.js';
import type { ApiClient } from '../api-client.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { followDeployment } from '../follow-deployment.js';
import { parseArg } from '../parse-arg.js';

/** How often `--wait-lock` asks again. */
const LOCK_RETRY_MS = 2000;

/** Options of the commands that start a deployment and follow it. */
export interface StartOptions {
  detach?: boolean;
  waitLock?: boolean;
}

/** `--refresh-vars`, of the commands that may start a release that landed before. */
export interface RefreshOption {
  refreshVars?: boolean;
}

/** `ferry deploy <app>@<version> --env ENV`, once its arguments are parsed by commander. */
export async function runDeploy(
  ref: string,
  options: StartOptions & RefreshOption & { env: string; yes?: boolean },
  cmd: Command,
): Promise<void> {
  const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
  await start(cmd, options, (api) =>
    api.deploy({
      app,
      version,
      env: options.env,
      ...refreshOf(options),
      ...(options.yes ? { confirmMigrations: true } : {}),
    }),
  );
}

/** `ferry promote <app>@<version>`, once its arguments are parsed by commander. */
export async function runPromote(
  ref: string,
  options: StartOptions & { yes?: boolean },
  cmd: Command,
): Promise<void> {
  const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
  await start(cmd, options, (api) =>
    api.promote({ app, version, ...(options.yes ? { confirmMigrations: true } : {}) }),
  );
}

/** `ferry rollback <app> --env ENV [--to VERSION]`, once its arguments are parsed by commander. */
export async function runRollback(
  app: string,
  options: StartOptions & RefreshOption & { env: string; to?: string; yes?: boolean },
  cmd: Command,
): Promise<void> {
  const to = options.to === undefined ? undefined : parseArg(versionTextSchema, options.to, '--to');
  await start(cmd, options, (api) =>
    api.rollback({
      app,
      env: options.env,
      ...(to === undefined ? {} : { to }),
      ...refreshOf(options),
      ...(options.yes ? { confirmMigrations: true } : {}),
    }),
  );
}

function refreshOf(options: RefreshOption): { refreshVars?: true } {
  return options.refreshVars === true ? { refreshVars: true } : {};
}

/** Starts a deployment (waiting for the lock if asked), then follows it and sets the exit code. */
async function start(
  cmd: Command,
  options: StartOptions,
  create: (api: ApiClient) => Promise<DeploymentRecord>,
): Promise<void> {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  const api = await connect(globals);
  let said = false;
  let deployment: DeploymentRecord;
  for (;;) {
    try {
      deployment = await create(api);
      break;
    } catch (err) {
      if (!(err instanceof FerryError) || err.code !== 'E_DEPLOY_LOCKED' || !options.waitLock)
        throw err;
      if (!said && !globals.json) process.stderr.write(`waiting: ${err.message}\n`);
      said = true;
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }
  process.exitCode = await followDeployment(api, deployment, {
    json: globals.json,
    detach: options.detach,
  });
}
