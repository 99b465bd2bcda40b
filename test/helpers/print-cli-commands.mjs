// Loaded with `node --import` before dist/main.js: instead of running a command,
// `ferry` prints its whole command tree as JSON — every command and subcommand
// with the options its `--help` lists — and exits. It replaces commander's
// parseAsync, which main.ts calls once on the complete program (client commands,
// server, agent and demo), so what it prints is exactly what the binary offers.
// test/docs-cli.test.ts reads it.
import { Command } from 'commander';

/** One command as its help shows it: the words that name it, its options, its subcommands. */
function describeCommand(command, parents) {
  const path = [...parents, command.name()];
  const help = command.createHelp();
  return {
    path: path.slice(1),
    // Private in commander's typings, but the only record of `{ isDefault: true }`.
    defaultCommand: command._defaultCommandName ?? null,
    options: help.visibleOptions(command).map((o) => o.long ?? o.short),
    commands: help
      .visibleCommands(command)
      .filter((c) => c.name() !== 'help')
      .map((c) => describeCommand(c, path)),
  };
}

Command.prototype.parseAsync = function printCommands() {
  process.stdout.write(`${JSON.stringify(describeCommand(this, []))}\n`);
  return Promise.resolve(this);
};
