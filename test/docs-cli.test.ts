import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FERRY_BIN } from './helpers/ferry-process.js';

/**
 * docs/cli.md against the binary, as the error catalogue test holds
 * docs/errors.md against the codes: every command and subcommand `ferry --help`
 * lists has a section `### \`ferry <command>\`` that names each of its options,
 * and no page of the docs (nor the README) names a command or an option that
 * does not exist.
 */

/** A command of the built `ferry`, as test/helpers/print-cli-commands.mjs prints it. */
interface CliCommand {
  path: string[];
  defaultCommand: string | null;
  options: string[];
  commands: CliCommand[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PRINTER = pathToFileURL(path.join(ROOT, 'test/helpers/print-cli-commands.mjs')).href;

function loadProgram(): CliCommand {
  try {
    const out = execFileSync(process.execPath, ['--import', PRINTER, FERRY_BIN], {
      encoding: 'utf8',
    });
    return JSON.parse(out) as CliCommand;
  } catch (err) {
    throw new Error(`cannot read the commands of ${FERRY_BIN} (run npm run build first)`, {
      cause: err,
    });
  }
}

const program = loadProgram();
const GLOBAL_OPTIONS = new Set(program.options);

function flatten(command: CliCommand): CliCommand[] {
  return command.commands.flatMap((c) => [c, ...flatten(c)]);
}
const commands = flatten(program);
const named = (c: CliCommand) => `ferry ${c.path.join(' ')}`;

/** A part of a page: the text under one heading, up to the next heading of any level. */
interface Section {
  heading: string;
  /** The command a `### \`ferry …\`` heading names, as written. */
  command: string | null;
  body: string;
}

function sections(markdown: string): Section[] {
  const found: Section[] = [];
  let current: Section = { heading: '(top)', command: null, body: '' };
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (heading) {
      found.push(current);
      const command = /^### `(ferry [^`]+)`$/.exec(line)?.[1] ?? null;
      current = { heading: heading[1]!, command, body: '' };
    } else current.body += `${line}\n`;
  }
  found.push(current);
  return found;
}

/**
 * The pieces of a page that hold commands: each inline code span, and each line
 * of a fenced block (a line ending in `\` joined with the next), with shell
 * comments dropped and `a && b` taken apart.
 */
function snippets(markdown: string): string[] {
  const found: string[] = [];
  const blocks = markdown.split(/^```.*$/m);
  blocks.forEach((block, index) => {
    if (index % 2 === 1) {
      for (const line of block.replace(/\\\n/g, ' ').split('\n'))
        found.push(line.replace(/(^|\s)#.*$/, ''));
    } else {
      // A span may run over a line break, where the text was wrapped.
      for (const span of block.matchAll(/`([^`]+)`/g))
        found.push(span[1]!.replace(/\s+/g, ' ').replace(/\\\|/g, '|'));
    }
  });
  return found.flatMap((s) => s.split(/&&|\|\||;/));
}

const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g;

/** A mention of a command in a snippet: what `ferry …` names, and the flags given to it. */
interface Mention {
  text: string;
  /** The commands it may be (`ferry deploy|promote` is either), or an error saying why none. */
  resolved: CliCommand[] | string;
  flags: string[];
}

function subcommand(parent: CliCommand, word: string): CliCommand | undefined {
  return parent.commands.find((c) => c.path.at(-1) === word);
}

function resolve(words: string[]): CliCommand[] | string {
  const first = words.find((w) => !w.startsWith('-'));
  if (first === undefined) return [program];
  const chosen: CliCommand[] = [];
  for (const alternative of first.split('|')) {
    let command = subcommand(program, alternative);
    if (!command) return `no command "${alternative}"`;
    for (const word of words.slice(words.indexOf(first) + 1)) {
      if (word.startsWith('-')) break;
      const next: CliCommand | undefined =
        subcommand(command, word) ??
        (command.defaultCommand ? subcommand(command, command.defaultCommand) : undefined);
      if (!next) break;
      command = next;
      if (next.path.at(-1) !== word) break; // the default subcommand took `word` as its argument
    }
    chosen.push(command);
  }
  return chosen;
}

function mentions(markdown: string): Mention[] {
  const found: Mention[] = [];
  for (const snippet of snippets(markdown)) {
    const at = /(?:^|[\s(])ferry\s+(\S.*)$/.exec(snippet);
    if (!at) continue;
    const rest = at[1]!;
    found.push({
      text: `ferry ${rest}`.trim(),
      resolved: resolve(rest.split(/\s+/)),
      flags: rest.match(FLAG) ?? [],
    });
  }
  return found;
}

const cliPage = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
const cliSections = sections(cliPage);
const sectionOf = new Map(
  cliSections.filter((s) => s.command !== null).map((s) => [s.command!, s] as const),
);

describe('docs/cli.md', () => {
  it('knows the commands of the binary (the check below has something to check)', () => {
    expect(commands.map(named)).toEqual(
      expect.arrayContaining(['ferry deploy', 'ferry vars set', 'ferry server', 'ferry agent']),
    );
  });

  it.each(commands.map((c) => [named(c), c] as const))(
    'has a section for `%s` naming each of its options',
    (name, command) => {
      const section = sectionOf.get(name);
      expect(section, `docs/cli.md has no "### \`${name}\`" section`).toBeDefined();
      const missing = command.options.filter(
        (o) => o !== '--help' && !new RegExp(`(?<![\\w-])${o}(?![\\w-])`).test(section!.body),
      );
      expect(missing, `options of ${name} not in its section of docs/cli.md`).toEqual([]);
    },
  );

  it('has a section only for a command that exists', () => {
    const known = new Set(commands.map(named));
    const unknown = [...sectionOf.keys()].filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });

  it.each(cliSections.map((s) => [s.heading, s] as const))(
    'names under "%s" only options of its command, of a command it names, or global ones',
    (_heading, section) => {
      const allowed = new Set(GLOBAL_OPTIONS);
      const own =
        section.command === null ? undefined : resolve(section.command.split(' ').slice(1));
      for (const c of Array.isArray(own) ? own : []) for (const o of c.options) allowed.add(o);
      for (const m of mentions(section.body))
        for (const c of Array.isArray(m.resolved) ? m.resolved : [])
          for (const o of c.options) allowed.add(o);
      const unknown = [...new Set(section.body.match(FLAG) ?? [])].filter((f) => !allowed.has(f));
      expect(unknown).toEqual([]);
    },
  );
});

const PAGES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe.each(PAGES)('%s', (page) => {
  it('names only commands that exist, with options they have', () => {
    const problems: string[] = [];
    for (const m of mentions(readFileSync(path.join(ROOT, page), 'utf8'))) {
      if (typeof m.resolved === 'string') {
        problems.push(`${m.text}: ${m.resolved}`);
        continue;
      }
      const options = new Set([...GLOBAL_OPTIONS, ...m.resolved.flatMap((c) => c.options)]);
      for (const flag of m.flags)
        if (!options.has(flag))
          problems.push(`${m.text}: ${m.resolved.map(named).join(' or ')} has no ${flag}`);
    }
    expect(problems).toEqual([]);
  });
});
