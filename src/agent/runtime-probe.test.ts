import { chmod, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeProbe } from './runtime-probe.js';

let dir: string;
let calls: string;

/**
 * Puts a runtime `name` in `folder` that prints `output` and counts its runs (one
 * line with its name each), as a package manager would: renamed into place.
 */
async function installRuntime(name: string, output: string, folder = dir): Promise<void> {
  const script = path.join(folder, `.${name}.partial`);
  await writeFile(script, `#!/bin/sh\necho ${name} >> '${calls}'\necho '${output}'\n`);
  await chmod(script, 0o755);
  await rename(script, path.join(folder, name));
}

/** How many times `name` was run (each probe runs every runtime found). */
const runs = async (name = 'node') =>
  (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter((l) => l === name).length;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-runtimes-'));
  calls = path.join(os.tmpdir(), `${path.basename(dir)}.calls`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(calls, { force: true });
});

describe('RuntimeProbe', () => {
  it('probes once across reports and an install that changes no runtime; again when a binary is replaced', async () => {
    await installRuntime('node', 'v20.11.1');
    const probe = new RuntimeProbe(dir);
    expect(await probe.versions()).toEqual({
      node: '20.11.1',
      npm: null,
      python3: null,
      pip: null,
    });
    expect(await probe.versions()).toMatchObject({ node: '20.11.1' });
    expect(await runs()).toBe(1);

    // An install writes into a PATH folder without touching a runtime (a global
    // tool, a lock file): the folder changed, no binary did — no probe.
    await writeFile(path.join(dir, 'some-tool'), '#!/bin/sh\n');
    await rm(path.join(dir, 'some-tool'));
    expect(await probe.versions()).toMatchObject({ node: '20.11.1' });
    expect(await probe.versions()).toMatchObject({ node: '20.11.1' });
    expect(await runs()).toBe(1);

    // A new node renamed into place: probed again, once.
    await installRuntime('node', 'v22.3.0');
    expect(await probe.versions()).toMatchObject({ node: '22.3.0' });
    expect(await probe.versions()).toMatchObject({ node: '22.3.0' });
    expect(await runs()).toBe(2);
  });

  it('sees a runtime that appears on the PATH, and one replaced behind a symlink', async () => {
    await installRuntime('node', 'v20.11.1');
    const lib = path.join(dir, 'lib');
    await mkdir(lib);
    const probe = new RuntimeProbe(`${dir}:/nonexistent`);
    expect(await probe.versions()).toMatchObject({ node: '20.11.1', python3: null });

    // An install step brings python3; the next report has it.
    await installRuntime('python3', 'Python 3.11.2');
    expect(await probe.versions()).toMatchObject({ node: '20.11.1', python3: '3.11.2' });
    expect(await runs('python3')).toBe(1);

    // npm is a symlink to its script, which an upgrade replaces: the link stays, the file changes.
    await installRuntime('npm-cli', '10.2.4', lib);
    await symlink(path.join(lib, 'npm-cli'), path.join(dir, 'npm'));
    expect(await probe.versions()).toMatchObject({ npm: '10.2.4' });
    await installRuntime('npm-cli', '10.8.1', lib);
    expect(await probe.versions()).toMatchObject({ npm: '10.8.1' });
    expect(await probe.versions()).toMatchObject({ npm: '10.8.1' });
    expect(await runs('npm-cli')).toBe(2);
  });
});
