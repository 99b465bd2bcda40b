import type { Command } from 'commander';
import type { runDeploy, runPromote, runRollback } from './deploy-start.js';

// The declarations only: what the commands do is in ./deploy-start.ts, loaded
// when one of them runs (their --help loads no API client, no schema).

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
    .action(async (...args: Parameters<typeof runDeploy>) =>
      (await import('./deploy-start.js')).runDeploy(...args),
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
    .action(async (...args: Parameters<typeof runPromote>) =>
      (await import('./deploy-start.js')).runPromote(...args),
    );
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
    .action(async (...args: Parameters<typeof runRollback>) =>
      (await import('./deploy-start.js')).runRollback(...args),
    );
}

function withStartOptions(command: Command): Command {
  return command
    .option('--detach', 'return at once with the deployment id')
    .option('--wait-lock', 'when another deployment of the app is active there, wait for it to end')
    .option('--json', 'print the final deployment record as JSON');
}
