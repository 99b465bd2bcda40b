import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../protocol/errors.js';
import { linkShared } from './link-shared.js';

let root: string;
let appDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ferry-shared-'));
  appDir = path.join(root, 'apps', 'cart');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes a release folder: files (`content`) and links (`{ link: target }`). */
async function release(
  version: number,
  entries: Record<string, string | { link: string }>,
): Promise<string> {
  const dir = path.join(appDir, 'releases', String(version));
  await mkdir(dir, { recursive: true });
  for (const [rel, entry] of Object.entries(entries)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof entry === 'string') await writeFile(file, entry);
    else await symlink(entry.link, file);
  }
  return dir;
}

async function refusal(promise: Promise<unknown>): Promise<FerryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

const say = () => undefined;

describe('linkShared', () => {
  it('links folders and files to <app>/shared, the first release giving its own copy', async () => {
    const first = await release(1, { 'config/local.json': '{"first":true}', 'server.js': '' });
    await linkShared(appDir, first, ['logs/', 'config/local.json'], say);
    expect(await readlink(path.join(first, 'logs'))).toBe(path.join(appDir, 'shared', 'logs'));
    expect(await readFile(path.join(appDir, 'shared', 'config', 'local.json'), 'utf8')).toBe(
      '{"first":true}',
    );

    const second = await release(2, { 'config/local.json': '{"second":true}' });
    await linkShared(appDir, second, ['logs/', 'config/local.json'], say);
    expect(await readFile(path.join(second, 'config', 'local.json'), 'utf8')).toBe(
      '{"first":true}',
    );
  });

  it('refuses to walk through links that each stay inside the bundle but lead outside the app', async () => {
    // `x` and `l` each land inside the release. Once `x/a` (really d1/d2/d3/d4/a)
    // has become a link to <app>/shared/x/a, `l` climbs from there to the root.
    const outside = path.join(root, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'keep.txt'), 'not the app’s');
    const dir = await release(1, {
      'd1/d2/d3/d4/a/file': 'x',
      x: { link: 'd1/d2/d3/d4' },
      l: { link: 'd1/d2/d3/d4/a/../../../../..' },
    });
    const err = await refusal(linkShared(appDir, dir, ['x/a/', 'l/outside/'], say));
    expect(err.code).toBe('E_SHARED_PATH_UNSAFE');
    expect(err.details).toMatchObject({ path: 'x/a/', component: 'x' });
    expect(err.message).toContain('"x/a/"');
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('not the app’s');
    expect((await lstat(path.join(dir, 'd1/d2/d3/d4/a'))).isDirectory()).toBe(true);

    // Each link on its own is refused too.
    const err2 = await refusal(linkShared(appDir, dir, ['l/outside/'], say));
    expect(err2.details).toMatchObject({ path: 'l/outside/', component: 'l' });
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('not the app’s');
  });

  it('refuses an entry that walks through the link an earlier entry made, keeping the shared data', async () => {
    const first = await release(1, {});
    await linkShared(appDir, first, ['data/'], say);
    await writeFile(path.join(appDir, 'shared', 'data', 'uploads'), 'kept');
    const second = await release(2, {});
    const err = await refusal(linkShared(appDir, second, ['data/', 'data/uploads'], say));
    expect(err.details).toMatchObject({ path: 'data/uploads', component: 'data' });
    expect(await readFile(path.join(appDir, 'shared', 'data', 'uploads'), 'utf8')).toBe('kept');
  });

  it('refuses a shared path that is itself a link in the release or in <app>/shared', async () => {
    const dir = await release(1, { 'config.json': { link: 'other.json' }, 'other.json': '{}' });
    const err = await refusal(linkShared(appDir, dir, ['config.json'], say));
    expect(err.details).toMatchObject({ component: 'config.json' });

    await mkdir(path.join(appDir, 'shared'), { recursive: true });
    await symlink(root, path.join(appDir, 'shared', 'logs'));
    const err2 = await refusal(linkShared(appDir, await release(2, {}), ['logs/'], say));
    expect(err2.message).toContain('shared folder');
  });

  it('takes ./ and doubled slashes as written, and refuses the release itself', async () => {
    const dir = await release(1, {});
    await linkShared(appDir, dir, ['./logs/', 'cache//tmp/'], say);
    expect(await readlink(path.join(dir, 'logs'))).toBe(path.join(appDir, 'shared', 'logs'));
    expect(await readlink(path.join(dir, 'cache', 'tmp'))).toBe(
      path.join(appDir, 'shared', 'cache', 'tmp'),
    );
    const err = await refusal(linkShared(appDir, dir, ['./'], say));
    expect(err.code).toBe('E_SHARED_PATH_UNSAFE');
  });
});
