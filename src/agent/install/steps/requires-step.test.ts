import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRequiresCheck } from '../../../protocol/requires-check.js';
import { section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { checkRequires, findCommand, requiresStep } from './requires-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

/** A folder of executables, each printing its line for `--version`. */
async function bin(name: string, programs: Record<string, string>): Promise<string> {
  const dir = path.join(fx.root, name);
  await mkdir(dir, { recursive: true });
  for (const [program, version] of Object.entries(programs)) {
    const file = path.join(dir, program);
    await writeFile(file, `#!/bin/sh\necho '${version}'\n`);
    await chmod(file, 0o755);
  }
  return dir;
}

describe('requiresStep', () => {
  it('passes a host that has what the manifest requires, and records each check', async () => {
    const tools = await bin('tools', {
      node: 'v20.11.1',
      python3: 'Python 3.11.2',
      pip3: 'pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)',
      gunicorn: 'gunicorn (version 21.2.0)',
    });
    const ctx = await fx.context({
      manifest: section({
        requires: { node: '>=20 <23', python: '3.11.x', pip: '>=23', commands: ['gunicorn'] },
      }),
    });
    ctx.env.PATH = `${tools}:/usr/bin:/bin`;
    expect(requiresStep.applies(ctx)).toBe(true);
    await requiresStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.reported()).toEqual([
      ['prepare', true],
      ['requires', true],
    ]);
    expect(fx.output()).toContain('node 20.11.1, needs >=20 <23 (ok)\n');
    expect(fx.output()).toContain(`command gunicorn: ${tools}/gunicorn (ok)\n`);
    expect(parseRequiresCheck(fx.output())).toEqual({
      host: 'qa-1',
      path: `${tools}:/usr/bin:/bin`,
      checks: [
        { kind: 'runtime', name: 'node', needed: '>=20 <23', found: '20.11.1', ok: true },
        { kind: 'runtime', name: 'python', needed: '3.11.x', found: '3.11.2', ok: true },
        { kind: 'runtime', name: 'pip', needed: '>=23', found: '23.0.1', ok: true },
        {
          kind: 'command',
          name: 'gunicorn',
          needed: 'on PATH',
          found: `${tools}/gunicorn`,
          ok: true,
        },
      ],
    });
  });

  it('fails a host with a runtime outside the range, naming what it has and what is needed', async () => {
    const old = await bin('old', { node: 'v18.19.0' });
    const ctx = await fx.context({ manifest: section({ requires: { node: '>=20 <23' } }) });
    ctx.env.PATH = old;
    await requiresStep.run(ctx);
    expect(ctx.failure?.error).toBe('node 18.19.0 on qa-1, cart needs >=20 <23');
    expect(fx.reported()).toEqual([
      ['prepare', true],
      ['requires', false],
    ]);
    expect(parseRequiresCheck(fx.output())?.checks).toEqual([
      { kind: 'runtime', name: 'node', needed: '>=20 <23', found: '18.19.0', ok: false },
    ]);
  });

  it('fails a host that lacks a command or a runtime, and names each', async () => {
    const empty = await bin('empty', {});
    const ctx = await fx.context({
      manifest: section({ requires: { python: '3.11.x', commands: ['gunicorn', 'psql'] } }),
    });
    ctx.env.PATH = empty;
    await requiresStep.run(ctx);
    expect(ctx.failure?.error).toBe(
      'no python on PATH on qa-1, cart needs 3.11.x; command gunicorn not found on PATH of qa-1; command psql not found on PATH of qa-1',
    );
  });

  it('looks on the PATH commands get, not the agent’s own', async () => {
    const tools = await bin('tools', { gunicorn: '21.2.0' });
    // The agent's PATH has it; the commands' PATH does not.
    const agentPath = process.env.PATH;
    process.env.PATH = `${tools}:${agentPath ?? ''}`;
    try {
      expect(await checkRequires({ commands: ['gunicorn'] }, '/usr/bin:/bin')).toEqual([
        { kind: 'command', name: 'gunicorn', needed: 'on PATH', found: null, ok: false },
      ]);
    } finally {
      process.env.PATH = agentPath;
    }
  });

  it('finds a command as the shell would: executable files only, relative folders skipped', async () => {
    const first = await bin('first', {});
    const second = await bin('second', { psql: '16.2' });
    await writeFile(path.join(first, 'psql'), 'not executable');
    await mkdir(path.join(first, 'gunicorn'));
    expect(await findCommand('psql', `relative:${first}:${second}`)).toBe(`${second}/psql`);
    expect(await findCommand('gunicorn', first)).toBeNull();
  });

  it('has nothing to do without requires, on a rollback, or after a failure', async () => {
    const plain = await fx.context();
    expect(requiresStep.applies(plain)).toBe(false);
    const ctx = await fx.context({ manifest: section({ requires: { commands: ['sh'] } }) });
    ctx.mode = 'reuse';
    expect(requiresStep.applies(ctx)).toBe(false);
    ctx.mode = 'fresh';
    ctx.failure = { error: 'earlier' };
    expect(requiresStep.applies(ctx)).toBe(false);
  });
});
