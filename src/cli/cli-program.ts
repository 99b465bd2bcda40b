import type { Command } from 'commander';

/**
 * One top-level client command (or a group of them in one module): the names
 * it answers to on the command line, and how to add it once its module is loaded.
 */
interface ClientCommand {
  /** Every top-level name the registration adds (`deployments` adds `deployment` and `cancel` too). */
  names: readonly string[];
  /** Loads the command's module (only then: most of the CLI's start is loading modules). */
  load: () => Promise<(program: Command) => void>;
}

/** The client commands in the order `ferry --help` lists them. */
const CLIENT_COMMANDS: readonly ClientCommand[] = [
  {
    names: ['bundle'],
    load: async () => {
      const [create, show, download] = await Promise.all([
        import('./commands/bundle-create.js'),
        import('./commands/bundle-show.js'),
        import('./commands/bundle-download.js'),
      ]);
      return (program) => {
        const bundle = program
          .command('bundle')
          .description(
            'make a bundle of an app (`ferry bundle <dir>`), or show or download a pushed one',
          );
        create.registerBundleCreate(bundle);
        show.registerBundleShow(bundle);
        download.registerBundleDownload(bundle);
      };
    },
  },
  { names: ['push'], load: async () => (await import('./commands/push.js')).registerPush },
  { names: ['apps'], load: async () => (await import('./commands/apps.js')).registerApps },
  {
    names: ['bundles'],
    load: async () => (await import('./commands/bundles.js')).registerBundles,
  },
  { names: ['tokens'], load: async () => (await import('./commands/tokens.js')).registerTokens },
  { names: ['keys'], load: async () => (await import('./commands/keys.js')).registerKeys },
  { names: ['envs'], load: async () => (await import('./commands/envs.js')).registerEnvs },
  { names: ['hosts'], load: async () => (await import('./commands/hosts.js')).registerHosts },
  { names: ['drift'], load: async () => (await import('./commands/drift.js')).registerDrift },
  {
    names: ['install'],
    load: async () => (await import('./commands/install.js')).registerInstall,
  },
  { names: ['logs'], load: async () => (await import('./commands/logs.js')).registerLogs },
  { names: ['login'], load: async () => (await import('./commands/login.js')).registerLogin },
  { names: ['vars'], load: async () => (await import('./commands/vars.js')).registerVars },
  { names: ['mark'], load: async () => (await import('./commands/mark.js')).registerMark },
  {
    names: ['verdicts'],
    load: async () => (await import('./commands/verdicts.js')).registerVerdicts,
  },
  { names: ['deploy'], load: async () => (await import('./commands/deploy.js')).registerDeploy },
  {
    names: ['promote'],
    load: async () => (await import('./commands/deploy.js')).registerPromote,
  },
  {
    names: ['rollback'],
    load: async () => (await import('./commands/deploy.js')).registerRollback,
  },
  {
    names: ['deployments', 'deployment', 'cancel'],
    load: async () => (await import('./commands/deployments.js')).registerDeployments,
  },
  { names: ['status'], load: async () => (await import('./commands/status.js')).registerStatus },
  {
    names: ['history'],
    load: async () => (await import('./commands/history.js')).registerHistory,
  },
  { names: ['events'], load: async () => (await import('./commands/events.js')).registerEvents },
  { names: ['audit'], load: async () => (await import('./commands/audit.js')).registerAudit },
  { names: ['alerts'], load: async () => (await import('./commands/alerts.js')).registerAlerts },
  {
    names: ['webhooks'],
    load: async () => (await import('./commands/webhooks.js')).registerWebhooks,
  },
  {
    names: ['note'],
    load: async () => {
      const [add, list, edit] = await Promise.all([
        import('./commands/note-add.js'),
        import('./commands/note-list.js'),
        import('./commands/note-edit.js'),
      ]);
      return (program) => {
        const note = program
          .command('note')
          .description(
            'notes on a bundle or a label for its release report: deployment issues, patches, testing issues, misc',
          );
        add.registerNoteAdd(note);
        list.registerNoteList(note);
        edit.registerNoteEdit(note);
      };
    },
  },
  {
    names: ['action'],
    load: async () => {
      const [add, done] = await Promise.all([
        import('./commands/action-add.js'),
        import('./commands/action-done.js'),
      ]);
      return (program) => {
        const action = program
          .command('action')
          .description(
            'actions on notes: something one person must do (`ferry actions` lists them)',
          );
        add.registerActionAdd(action);
        done.registerActionDone(action);
      };
    },
  },
  {
    names: ['actions'],
    load: async () => (await import('./commands/actions.js')).registerActions,
  },
  { names: ['report'], load: async () => (await import('./commands/report.js')).registerReport },
];

/** The names of every top-level client command, in the order `ferry --help` lists them. */
export const CLIENT_COMMAND_NAMES: readonly string[] = CLIENT_COMMANDS.flatMap(
  (command) => command.names,
);

/**
 * Adds every client command (push, deploy, status…) to the `ferry` program of
 * `createBaseProgram`; `main` adds the server and agent faces.
 */
export async function addClientCommands(program: Command): Promise<Command> {
  const registrations = await Promise.all(CLIENT_COMMANDS.map((command) => command.load()));
  for (const register of registrations) register(program);
  return program;
}

/**
 * Adds the one client command called `name` (with the others its module
 * registers under other names), loading its module alone: `ferry rollback`
 * does not load `ferry push`'s archive code nor `ferry report`'s renderers.
 * False when no client command has that name (then `main` builds the whole
 * program, for commander's help and its "did you mean").
 */
export async function addClientCommand(program: Command, name: string): Promise<boolean> {
  const command = CLIENT_COMMANDS.find((candidate) => candidate.names.includes(name));
  if (command === undefined) return false;
  (await command.load())(program);
  return true;
}
