import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamEvents } from '../src/client/event-stream.js';
import { FerryClient } from '../src/client/ferry-client.js';
import type { HistoryEntry } from '../src/protocol/deployment-api.js';
import type { FerryEvent } from '../src/protocol/events.js';
import type { ActionDoneResult, ActionListItem, NoteRecord } from '../src/protocol/note-api.js';
import {
  type CliResult,
  runFerry,
  startServer,
  type ServerProcess,
} from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessTrust } from '../src/dev/harness-trust.js';
import { decodeJoinString } from '../src/tls/join-string.js';

/**
 * Notes and actions through the real CLI against a real server (SQLite): a
 * release of three apps pushed with label 0.4.0, notes on the label and on a
 * bundle, edited; actions given to owners, done once, listed by owner; each
 * write in `ferry history` with who and when, and on the event stream.
 */

let server: ServerProcess;
let env: NodeJS.ProcessEnv;
let qaToken: string;

const ferry = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  runFerry(args, { env: { ...env, ...extra } });

async function json<T>(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<T> {
  const result = await ferry([...args, '--json'], extra);
  expect(result.code, `ferry ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Runs a command that must fail, and answers the error code it printed. */
async function refused(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await ferry(args, extra);
  expect(result.code, `ferry ${args.join(' ')} should fail: ${result.stdout}`).toBe(1);
  return /\[(E_[A-Z_]+)\]/.exec(result.stderr)?.[1] ?? result.stderr;
}

/** Adds a note and answers the id it printed, alone on stdout. */
async function addNote(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<number> {
  const result = await ferry(['note', 'add', ...args], extra);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/^\d+\n$/);
  return Number(result.stdout);
}

beforeAll(async () => {
  server = await startServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-notes-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  // A platform release: front, back and mq pushed with one label; back fixed by back@2.
  for (const app of ['front', 'back', 'mq']) {
    const pushed = await ferry(['push', await makeTree(appTree(app, '0.4.0')), '--label', '0.4.0']);
    expect(pushed.code, pushed.stderr).toBe(0);
  }
  const fix = await ferry(['push', await makeTree(appTree('back', 'fix')), '--label', '0.4.1']);
  expect(fix.code, fix.stderr).toBe(0);
  const made = await ferry(['tokens', 'create', '--role', 'qa', '--name', 'quinn']);
  expect(made.code, made.stderr).toBe(0);
  qaToken = made.stdout.trim();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('ferry note and ferry action', () => {
  let onLabel: number;
  let onBack: number;

  it('adds notes on a label and on a bundle, answers each new id, and lists them', async () => {
    onLabel = await addNote([
      '--label',
      '0.4.0',
      '--section',
      'deployment',
      '--impact',
      'minor',
      '--text',
      "The MQ daemon's stdout and stderr go to the same log file",
    ]);
    onBack = await addNote(
      [
        'back@1',
        '--section',
        'patch',
        '--impact',
        'major',
        '--text',
        'The migration printed a warning that a sequence already existed\nseen on qa-1 only',
        '--fixed-by',
        'back@2',
      ],
      { FERRY_TOKEN: qaToken },
    );
    expect(onBack).toBeGreaterThan(onLabel);

    // The label's release: the note on it and the note on back@1, which carries it.
    const release = await json<NoteRecord[]>(['note', 'list', '--label', '0.4.0']);
    expect(release.map((n) => n.id)).toEqual([onLabel, onBack]);
    expect(release[1]).toMatchObject({
      on: { kind: 'bundle', app: 'back', version: 1 },
      section: 'patch',
      impact: 'major',
      fixedBy: { app: 'back', version: 2 },
      createdBy: 'quinn',
      actions: [],
    });
    expect((await json<NoteRecord[]>(['note', 'list', 'back@1'])).map((n) => n.id)).toEqual([
      onBack,
    ]);
    expect(await json<NoteRecord[]>(['note', 'list', 'front@1'])).toEqual([]);
    expect((await json<NoteRecord[]>(['note', 'list'])).map((n) => n.id)).toEqual([
      onLabel,
      onBack,
    ]);

    const listed = await ferry(['note', 'list', 'back']);
    expect(listed.code, listed.stderr).toBe(0);
    const [head, ...rest] = listed.stdout.split('\n');
    expect(head).toMatch(new RegExp(`^note ${onBack}  back@1  patch  major  by quinn \\S+ \\S+$`));
    expect(rest).toEqual([
      '    The migration printed a warning that a sequence already existed',
      '    seen on qa-1 only',
      '    fixed by back@2',
      '',
    ]);
  });

  it('refuses a note on what does not exist, and a bad section or impact, with codes', async () => {
    const note = ['--section', 'testing', '--impact', 'nil', '--text', 'x'];
    expect(await refused(['note', 'add', 'back@9', ...note])).toBe('E_BUNDLE_NOT_FOUND');
    expect(await refused(['note', 'add', 'nope@1', ...note])).toBe('E_APP_NOT_FOUND');
    expect(await refused(['note', 'add', '--label', '9.9.9', ...note])).toBe('E_LABEL_NOT_FOUND');
    expect(await refused(['note', 'list', '--label', '9.9.9'])).toBe('E_LABEL_NOT_FOUND');
    expect(await refused(['note', 'list', 'back@9'])).toBe('E_BUNDLE_NOT_FOUND');
    const fixedBy = await ferry(['note', 'add', 'back@1', ...note, '--fixed-by', 'back@7']);
    expect(fixedBy.code).toBe(1);
    expect(fixedBy.stderr).toContain('--fixed-by back@7');
    expect(fixedBy.stderr).toContain('[E_BUNDLE_NOT_FOUND]');
    expect(await refused(['note', 'add', 'back@1', ...note.slice(2), '--section', 'oops'])).toBe(
      'E_BAD_REQUEST',
    );
    expect(
      await refused([
        'note',
        'add',
        'back@1',
        '--section',
        'misc',
        '--impact',
        'huge',
        '--text',
        'x',
      ]),
    ).toBe('E_BAD_REQUEST');
    expect(await refused(['note', 'add', ...note])).toBe('E_BAD_REQUEST');
    expect(await refused(['note', 'add', 'back@1', '--label', '0.4.0', ...note])).toBe(
      'E_BAD_REQUEST',
    );
    // A note is a person's word: an agent's token may not write one.
    const agent = await ferry(['tokens', 'create', '--role', 'agent', '--env', 'qa']);
    expect(agent.code, agent.stderr).toBe(0);
    expect(
      await refused(['note', 'add', 'back@1', ...note], {
        FERRY_TOKEN: decodeJoinString(agent.stdout).token,
      }),
    ).toBe('E_FORBIDDEN');
    expect((await json<NoteRecord[]>(['note', 'list'])).map((n) => n.id)).toEqual([
      onLabel,
      onBack,
    ]);
  });

  it('edits a note: what is given changes, the rest stays, who and when are kept', async () => {
    const edited = await json<NoteRecord>(
      ['note', 'edit', String(onLabel), '--impact', 'blocker', '--section', 'misc'],
      { FERRY_TOKEN: qaToken },
    );
    expect(edited).toMatchObject({
      id: onLabel,
      section: 'misc',
      impact: 'blocker',
      text: "The MQ daemon's stdout and stderr go to the same log file",
      createdBy: 'admin',
      updatedBy: 'quinn',
    });
    const unfixed = await ferry(['note', 'edit', String(onBack), '--fixed-by', 'none']);
    expect(unfixed.code, unfixed.stderr).toBe(0);
    expect(unfixed.stdout).toBe(`Edited note ${onBack} on back@1: patch, major\n`);
    const refixed = await ferry(['note', 'edit', String(onBack), '--fixed-by', 'back@2']);
    expect(refixed.stdout).toBe(`Edited note ${onBack} on back@1: patch, major, fixed by back@2\n`);

    expect(await refused(['note', 'edit', '999', '--impact', 'nil'])).toBe('E_NOTE_NOT_FOUND');
    expect(await refused(['note', 'edit', String(onBack)])).toBe('E_BAD_REQUEST');
    expect(await refused(['note', 'edit', 'x1', '--impact', 'nil'])).toBe('E_BAD_REQUEST');
    expect(await refused(['note', 'edit', String(onBack), '--fixed-by', 'back@8'])).toBe(
      'E_BUNDLE_NOT_FOUND',
    );
  });

  it('gives owners actions, marks them done once, and lists them by owner and open', async () => {
    const add = async (note: number, owner: string, text: string) => {
      const result = await ferry(['action', 'add', String(note), '--owner', owner, '--text', text]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^\d+\n$/);
      return Number(result.stdout);
    };
    const split = await add(onLabel, 'bob', 'Send stderr to its own file');
    const python = await add(onBack, 'carol', 'Drop the duplicate sequence');
    const docs = await add(onLabel, 'bob', 'Say so in the runbook');
    expect(await refused(['action', 'add', '999', '--owner', 'bob', '--text', 'x'])).toBe(
      'E_NOTE_NOT_FOUND',
    );

    const done = await ferry(['action', 'done', String(split)], { FERRY_TOKEN: qaToken });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(`Action ${split} on note ${onLabel} done\n`);
    const again = await json<ActionDoneResult>(['action', 'done', String(split)]);
    expect(again).toMatchObject({ changed: false, action: { done: true, doneBy: 'quinn' } });
    expect(await refused(['action', 'done', '999'])).toBe('E_ACTION_NOT_FOUND');

    const ids = (actions: ActionListItem[]) => actions.map((a) => a.id);
    expect(ids(await json(['actions']))).toEqual([split, python, docs]);
    expect(ids(await json(['actions', '--owner', 'bob']))).toEqual([split, docs]);
    const open = await json<ActionListItem[]>(['actions', '--owner', 'bob', '--open']);
    expect(open).toEqual([
      expect.objectContaining({
        id: docs,
        noteId: onLabel,
        owner: 'bob',
        done: false,
        note: expect.objectContaining({ on: { kind: 'label', label: '0.4.0' }, impact: 'blocker' }),
      }),
    ]);

    const table = await ferry(['actions', '--owner', 'bob']);
    expect(table.stdout).toMatch(/^ID\s+OWNER\s+STATE\s+ON\s+NOTE\s+DONE\s+TEXT\n/);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${split}\\s+bob\\s+done\\s+label 0\\.4\\.0\\s+${onLabel} \\(misc, blocker\\)\\s+\\S+ \\S+ by quinn\\s+Send stderr`,
        'm',
      ),
    );
    expect(table.stdout).toMatch(new RegExp(`^${docs}\\s+bob\\s+open\\s+label 0\\.4\\.0`, 'm'));
    expect((await ferry(['actions', '--owner', 'dave', '--open'])).stdout).toBe(
      '(no open actions for dave)\n',
    );

    // A note shows its actions.
    const [label] = await json<NoteRecord[]>(['note', 'list', '--label', '0.4.0']);
    expect(label?.actions.map((a) => [a.id, a.owner, a.done])).toEqual([
      [split, 'bob', true],
      [docs, 'bob', false],
    ]);
    const listed = await ferry(['note', 'list', '--label', '0.4.0']);
    expect(listed.stdout).toContain(`    action ${docs} (bob, open): Say so in the runbook\n`);
    expect(listed.stdout).toMatch(
      new RegExp(`    action ${split} \\(bob, done by quinn \\S+ \\S+\\): Send stderr`),
    );
  });

  it('keeps every write in history with who and when, and publishes it as note.changed', async () => {
    const history = await json<HistoryEntry[]>(['history']);
    const lines = history
      .filter((e) => e.type === 'note' || e.type === 'action')
      .map((e) => [e.type, e.by, e.app === null ? null : `${e.app}@${e.version}`, e.detail]);
    expect(lines).toEqual([
      [
        'action',
        'quinn',
        null,
        expect.stringMatching(/^done action \d+ on note \d+ \(bob\): Send stderr/),
      ],
      [
        'action',
        'admin',
        null,
        expect.stringMatching(
          /^added action \d+ on note \d+ for bob: Say so in the runbook \(on label 0\.4\.0\)$/,
        ),
      ],
      [
        'action',
        'admin',
        'back@1',
        expect.stringMatching(
          /^added action \d+ on note \d+ for carol: Drop the duplicate sequence$/,
        ),
      ],
      [
        'action',
        'admin',
        null,
        expect.stringMatching(/^added action \d+ on note \d+ for bob: Send stderr/),
      ],
      ['note', 'admin', 'back@1', `edited note ${onBack}: fixed by none → back@2`],
      ['note', 'admin', 'back@1', `edited note ${onBack}: fixed by back@2 → none`],
      [
        'note',
        'quinn',
        null,
        `edited note ${onLabel}: section deployment → misc; impact minor → blocker (on label 0.4.0)`,
      ],
      [
        'note',
        'quinn',
        'back@1',
        `added note ${onBack} (patch, major), fixed by back@2: The migration printed a warning that a sequence already existed seen on qa-1 on…`,
      ],
      [
        'note',
        'admin',
        null,
        `added note ${onLabel} (deployment, minor): The MQ daemon's stdout and stderr go to the same log file (on label 0.4.0)`,
      ],
    ]);
    for (const entry of history.filter((e) => e.type === 'note')) {
      expect(Date.parse(entry.at)).toBeGreaterThan(Date.now() - 600_000);
    }
    // A note on a bundle is in its app's history too.
    const back = await json<HistoryEntry[]>(['history', 'back']);
    expect(back.filter((e) => e.type === 'note').map((e) => e.detail)).toHaveLength(3);

    const events: FerryEvent[] = [];
    await streamEvents({
      client: new FerryClient(server.url, server.adminToken, harnessTrust().clientOptions()),
      query: { kinds: ['note.changed'] },
      after: '0',
      onEvent: (event) => {
        events.push(event);
        return events.length < 9;
      },
    });
    expect(
      events.map((e) =>
        e.kind === 'note.changed'
          ? [e.data.change, e.app, e.data.version, e.data.label, e.data.by]
          : e.kind,
      ),
    ).toEqual([
      ['added', null, null, '0.4.0', 'admin'],
      ['added', 'back', 1, null, 'quinn'],
      ['edited', null, null, '0.4.0', 'quinn'],
      ['edited', 'back', 1, null, 'admin'],
      ['edited', 'back', 1, null, 'admin'],
      ['action-added', null, null, '0.4.0', 'admin'],
      ['action-added', 'back', 1, null, 'admin'],
      ['action-added', null, null, '0.4.0', 'admin'],
      // Done once: the second `done` changed nothing, and published nothing.
      ['action-done', null, null, '0.4.0', 'quinn'],
    ]);
  });
  it('makes a note only of a finding its release report has', async () => {
    // No host ever ran this release: its report has no finding to confirm.
    const unknown = await ferry([
      'note',
      'add',
      '--label',
      '0.4.0',
      '--finding',
      'warnings/back/qa/postgres',
      '--impact',
      'major',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      'The release report of label 0.4.0 has no finding warnings/back/qa/postgres',
    );
    expect(unknown.stderr).toContain('[E_FINDING_NOT_FOUND]');
    expect(
      (await json<NoteRecord[]>(['note', 'list', '--label', '0.4.0'])).filter(
        (n) => n.finding !== null,
      ),
    ).toEqual([]);
    expect(
      await refused([
        'note',
        'add',
        '--label',
        '0.4.0',
        '--finding',
        'not a key',
        '--impact',
        'nil',
        '--text',
        'x',
      ]),
    ).toBe('E_BAD_REQUEST');
    expect(
      await refused(['note', 'add', '--label', '0.4.0', '--impact', 'nil', '--text', 'x']),
    ).toBe('E_BAD_REQUEST');
  });
});
