import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createBaseProgram } from './base-program.js';
import { addClientCommand, addClientCommands, CLIENT_COMMAND_NAMES } from './cli-program.js';

/** Every command under `command`, with the words that name it, and its help as `--help` prints it. */
function helpTexts(command: Command, parents: string[] = []): Map<string, string> {
  const texts = new Map<string, string>();
  for (const sub of command.commands) {
    const words = [...parents, sub.name()];
    texts.set(words.join(' '), sub.helpInformation());
    for (const [name, text] of helpTexts(sub, words)) texts.set(name, text);
  }
  return texts;
}

describe('client commands, added one at a time', () => {
  it('names every client command of the whole program, in its order', async () => {
    const whole = await addClientCommands(createBaseProgram());
    expect(whole.commands.map((command) => command.name())).toEqual(CLIENT_COMMAND_NAMES);
  });

  it('gives each command, added alone, the same help as in the whole program, subcommands included', async () => {
    const whole = helpTexts(await addClientCommands(createBaseProgram()));
    for (const name of CLIENT_COMMAND_NAMES) {
      const alone = createBaseProgram();
      expect(await addClientCommand(alone, name)).toBe(true);
      const texts = helpTexts(alone);
      expect([...texts.keys()], name).toContain(name);
      for (const [words, text] of texts) expect(text, words).toBe(whole.get(words));
    }
  });

  it('adds nothing for a name that is no client command, so that main builds the whole program', async () => {
    const program = createBaseProgram();
    expect(await addClientCommand(program, 'server')).toBe(false);
    expect(await addClientCommand(program, 'rollbak')).toBe(false);
    expect(program.commands).toEqual([]);
  });
});
