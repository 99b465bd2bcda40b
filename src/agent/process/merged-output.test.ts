import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mergedOutput } from './merged-output.js';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-merged-'));
});
afterEach(async () => {
  // Each in a group of its own: a process a test's command started goes too.
  for (const child of children.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** Runs `/bin/sh -c command` with stdout and stderr as given (file paths, or `pipe`). */
function run(command: string, stdout: string, stderr: string): number {
  const fds = [stdout, stderr].map((f) =>
    f === 'pipe' ? 'pipe' : openSync(path.join(dir, f), 'a'),
  );
  const child = spawn('/bin/sh', ['-c', command], {
    stdio: ['ignore', fds[0]!, fds[1]!],
    detached: true,
  });
  for (const fd of fds) if (typeof fd === 'number') closeSync(fd);
  children.push(child);
  return child.pid!;
}

/** Lets the shell reach the command (and its redirections) before looking. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('mergedOutput', () => {
  it('is false for stdout and stderr in two files, or two pipes', async () => {
    const files = run('exec sleep 30', 'out.log', 'err.log');
    const pipes = run('exec sleep 30', 'pipe', 'pipe');
    await settle();
    expect(await mergedOutput(files)).toBe(false);
    expect(await mergedOutput(pipes)).toBe(false);
  });

  it('is true for a command that says 2>&1, in the process or a child it starts', async () => {
    const execd = run('exec sleep 30 2>&1', 'out.log', 'err.log');
    // The main process keeps them apart; a process it starts merges them.
    const starter = `spawn('/bin/sh', ['-c', 'exec sleep 30 2>&1'], { stdio: 'inherit' }); setInterval(() => {}, 1000)`;
    const forked = run(
      `exec '${process.execPath}' -e "require('child_process').${starter}"`,
      'out.log',
      'err.log',
    );
    await settle();
    expect(await mergedOutput(execd)).toBe(true);
    expect(await mergedOutput(forked)).toBe(true);
  });

  it('is true for both descriptors on one pipe, as supervisord gives with redirect_stderr=true', async () => {
    const merged = spawn('/bin/sh', ['-c', 'exec 2>&1; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    children.push(merged);
    await settle();
    expect(await mergedOutput(merged.pid!)).toBe(true);
  });

  it('is false for both on /dev/null, and null for a process that is gone', async () => {
    const devNull = spawn('/bin/sh', ['-c', 'exec sleep 30'], {
      stdio: 'ignore',
      detached: true,
    });
    children.push(devNull);
    const gone = spawn('/bin/true');
    await new Promise((resolve) => gone.on('exit', resolve));
    await settle();
    expect(await mergedOutput(devNull.pid!)).toBe(false);
    expect(await mergedOutput(gone.pid!)).toBeNull();
  });
});
