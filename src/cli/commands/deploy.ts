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
interface StartOptions {
  detach?: boolean;
  waitLock?: boolean;
}

/** `--refresh-vars`, of the commands that may start a release that landed before. */
interface RefreshOption {
  refreshVars?: boolean;
}

const REFRESH_HELP =
  "start the release with today's variables, not the configuration it last ran with on each host";

/** `ferry deploy <app>@<version> --env ENV`: a rolling deployment, followed live. */
export function registerDeploy(program: Command): void {
  const command = program
    .command('deploy <ref>')
    .description(
      'deploy a bundle to an environment, host by host in batches, and follow it; exits 0 only if it succeeded',
    )
    .requiredOption('--env <env>', 'the environment: dev, qa, prod, ...')
    .option('--refresh-vars', REFRESH_HELP)
    .option(
      '--yes',
      'deploy an older version even though migrations of later ones ran there since (it never undoes them)',
    );
  withStartOptions(command)
    .addHelpText(
      'after',
      '\nThe environment may require a verdict (prod takes only bundles marked passed) and only\n' +
        'admins deploy to a protected one (prod). One deployment per app and environment at a time.\n' +
        'A release that was in the environment before never runs its migrations again; going back\n' +
        'to it across versions whose migrations ran there is refused until you pass --yes.\n\n' +
        'Examples:\n  ferry deploy cart@12 --env qa\n  ferry deploy cart@12 --env prod --wait-lock',
    )
    .action(
      async (
        ref: string,
        options: StartOptions & RefreshOption & { env: string; yes?: boolean },
        cmd: Command,
      ) => {
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
      },
    );
}

/** `ferry promote <app>@<version>`: to the environment after the last one where it succeeded. */
export function registerPromote(program: Command): void {
  const command = program
    .command('promote <ref>')
    .description(
      'deploy a bundle to the environment after the last one where it succeeded (qa → prod), and follow it',
    )
    .option(
      '--yes',
      'promote an older version even though migrations of later ones ran there since (it never undoes them)',
    );
  withStartOptions(command)
    .addHelpText(
      'after',
      '\nPromoting a bundle older than one whose migrations ran in the target environment goes\n' +
        'back across them: it is refused until you pass --yes, as ferry rollback is.\n\n' +
        'Example:\n  ferry mark cart@12 passed && ferry promote cart@12',
    )
    .action(async (ref: string, options: StartOptions & { yes?: boolean }, cmd: Command) => {
      const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
      await start(cmd, options, (api) =>
        api.promote({ app, version, ...(options.yes ? { confirmMigrations: true } : {}) }),
      );
    });
}

/** `ferry rollback <app> --env ENV [--to VERSION]`. */
export function registerRollback(program: Command): void {
  const command = program
    .command('rollback <app>')
    .description(
      'go back to the previous bundle that succeeded in an environment (or --to VERSION); on hosts that still hold it, no fetch and no install',
    )
    .requiredOption('--env <env>', 'the environment to roll back')
    .option(
      '--to <version>',
      'the version to go back to (default: the previous one that succeeded there)',
    )
    .option('--refresh-vars', REFRESH_HELP)
    .option(
      '--yes',
      'go back even though migrations ran there since that version (a rollback never undoes them)',
    );
  withStartOptions(command)
    .addHelpText(
      'after',
      '\nWhen migrations ran there since the version to go back to, the rollback is refused\n' +
        'until you pass --yes: going back never re-runs nor undoes a migration.\n\n' +
        'Examples:\n  ferry rollback cart --env prod\n  ferry rollback cart --env qa --to 9 --yes',
    )
    .action(
      async (
        app: string,
        options: StartOptions & RefreshOption & { env: string; to?: string; yes?: boolean },
        cmd: Command,
      ) => {
        const to =
          options.to === undefined ? undefined : parseArg(versionTextSchema, options.to, '--to');
        await start(cmd, options, (api) =>
          api.rollback({
            app,
            env: options.env,
            ...(to === undefined ? {} : { to }),
            ...refreshOf(options),
            ...(options.yes ? { confirmMigrations: true } : {}),
          }),
        );
      },
    );
}

function refreshOf(options: RefreshOption): { refreshVars?: true } {
  return options.refreshVars === true ? { refreshVars: true } : {};
}

function withStartOptions(command: Command): Command {
  return command
    .option('--detach', 'return at once with the deployment id')
    .option('--wait-lock', 'when another deployment of the app is active there, wait for it to end')
    .option('--json', 'print the final deployment record as JSON');
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
