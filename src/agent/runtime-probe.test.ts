import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeProbe } from './runtime-probe.js';

let dir: string;
let calls: string;

/** Puts a `node` on the PATH folder that prints `version` and counts its runs, as a package manager would: renamed into place. */
async function installNode(version: string): Promise<void> {
  const script = path.join(dir, 'node.partial');
  await writeFile(script, `#!/bin/sh\necho run >> '${calls}'\necho v${version}\n`);
  await chmod(script, 0o755);
  await rename(script, path.join(dir, 'node'));
}

const runs = async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').length - 1;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-runtimes-'));
  calls = path.join(os.tmpdir(), `${path.basename(dir)}.calls`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(calls, { force: true });
});

describe('RuntimeProbe', () => {
  it('asks each runtime once, and again only when the PATH changes or after forget', async () => {
    await installNode('20.11.1');
    const probe = new RuntimeProbe(dir);
    expect(await probe.versions()).toEqual({
      node: '20.11.1',
      npm: null,
      python3: null,
      pip: null,
    });
    expect(await probe.versions()).toMatchObject({ node: '20.11.1' });
    expect(await runs()).toBe(1);

    await installNode('22.3.0');
    expect(await probe.versions()).toMatchObject({ node: '22.3.0' });
    expect(await runs()).toBe(2);

    probe.forget();
    expect(await probe.versions()).toMatchObject({ node: '22.3.0' });
    expect(await runs()).toBe(3);
  });
});
