import type { Command } from 'commander';
import { registerActionAdd } from './commands/action-add.js';
import { registerActionDone } from './commands/action-done.js';
import { registerActions } from './commands/actions.js';
import { registerAlerts } from './commands/alerts.js';
import { registerApps } from './commands/apps.js';
import { registerAudit } from './commands/audit.js';
import { registerBundleCreate } from './commands/bundle-create.js';
import { registerBundleDownload } from './commands/bundle-download.js';
import { registerBundleShow } from './commands/bundle-show.js';
import { registerBundles } from './commands/bundles.js';
import { registerDeploy, registerPromote, registerRollback } from './commands/deploy.js';
import { registerDeployments } from './commands/deployments.js';
import { registerHistory } from './commands/history.js';
import { registerEvents } from './commands/events.js';
import { registerStatus } from './commands/status.js';
import { registerEnvs } from './commands/envs.js';
import { registerHosts } from './commands/hosts.js';
import { registerDrift } from './commands/drift.js';
import { registerInstall } from './commands/install.js';
import { registerKeys } from './commands/keys.js';
import { registerLogin } from './commands/login.js';
import { registerLogs } from './commands/logs.js';
import { registerMark } from './commands/mark.js';
import { registerNoteAdd } from './commands/note-add.js';
import { registerNoteEdit } from './commands/note-edit.js';
import { registerNoteList } from './commands/note-list.js';
import { registerPush } from './commands/push.js';
import { registerReport } from './commands/report.js';
import { registerTokens } from './commands/tokens.js';
import { registerWebhooks } from './commands/webhooks.js';
import { registerVars } from './commands/vars.js';
import { registerVerdicts } from './commands/verdicts.js';

/**
 * Adds every client command (push, deploy, status…) to the `ferry` program of
 * `createBaseProgram`; `main` adds the server and agent faces.
 */
export function addClientCommands(program: Command): Command {
  const bundle = program
    .command('bundle')
    .description(
      'make a bundle of an app (`ferry bundle <dir>`), or show or download a pushed one',
    );
  registerBundleCreate(bundle);
  registerBundleShow(bundle);
  registerBundleDownload(bundle);

  registerPush(program);
  registerApps(program);
  registerBundles(program);
  registerTokens(program);
  registerKeys(program);
  registerEnvs(program);
  registerHosts(program);
  registerDrift(program);
  registerInstall(program);
  registerLogs(program);
  registerLogin(program);
  registerVars(program);
  registerMark(program);
  registerVerdicts(program);
  registerDeploy(program);
  registerPromote(program);
  registerRollback(program);
  registerDeployments(program);
  registerStatus(program);
  registerHistory(program);
  registerEvents(program);
  registerAudit(program);
  registerAlerts(program);
  registerWebhooks(program);

  const note = program
    .command('note')
    .description(
      'notes on a bundle or a label for its release report: deployment issues, patches, testing issues, misc',
    );
  registerNoteAdd(note);
  registerNoteList(note);
  registerNoteEdit(note);
  const action = program
    .command('action')
    .description('actions on notes: something one person must do (`ferry actions` lists them)');
  registerActionAdd(action);
  registerActionDone(action);
  registerActions(program);
  registerReport(program);
  return program;
}
