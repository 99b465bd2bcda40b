import { execFileSync } from 'node:child_process';
import { readFile, symlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readArchive } from '../../test/helpers/archive.js';
import { makeTree } from '../../test/helpers/source-tree.js';
import { BUNDLE_META_FILE, type BundleMeta } from './bundle-meta.js';
import { createBundle } from './pack.js';

const out = (name: string) => path.join(os.tmpdir(), `ferry-pack-${process.pid}-${name}.tar.gz`);

async function namesIn(file: string): Promise<string[]> {
  return (await readArchive(file)).map((e) => e.name);
}

describe('createBundle', () => {
  it('bundles only the app path, minus exclude, .gitignore, .ferryignore and .git', async () => {
    const root = await makeTree({
      'ferry.yml': 'apps:\n  cart:\n    path: cart\n    exclude: [node_modules, "*.log"]\n',
      '.gitignore': 'cart/secret.txt\n',
      'README.md': 'outside the app path\n',
      'cart/server.js': 'x',
      'cart/app.log': 'excluded by the manifest',
      'cart/node_modules/dep/index.js': 'excluded by the manifest',
      'cart/.ferryignore': 'fixtures/\n',
      'cart/fixtures/big.bin': 'excluded by .ferryignore',
      'cart/secret.txt': 'excluded by the .gitignore above the app',
      'cart/lib/.gitignore': '*.tmp\n!keep.tmp\n',
      'cart/lib/a.js': 'a',
      'cart/lib/b.tmp': 'excluded by the nested .gitignore',
      'cart/lib/keep.tmp': 'kept by negation',
      'cart/.git/HEAD': 'never bundled',
    });
    const created = await createBundle({ sourceDir: root, out: out('ignore') });
    expect(await namesIn(created.file)).toEqual([
      BUNDLE_META_FILE,
      '.ferryignore',
      'lib/.gitignore',
      'lib/a.js',
      'lib/keep.tmp',
      'server.js',
    ]);
    expect(created.meta.files.map((f) => f.path)).toEqual([
      '.ferryignore',
      'lib/.gitignore',
      'lib/a.js',
      'lib/keep.tmp',
      'server.js',
    ]);
  });

  it('writes ferry-bundle.json first, with app, label, git, times, manifest and every file', async () => {
    const root = await makeTree({
      'ferry.yml': 'apps:\n  front: {}\n  back:\n    role: backend\n',
      'run.sh': '#!/bin/sh\necho hi\n',
    });
    execFileSync('chmod', ['755', path.join(root, 'run.sh')]);
    const created = await createBundle({
      sourceDir: root,
      app: 'back',
      label: '0.4.0',
      out: out('meta'),
    });
    const entries = await readArchive(created.file);
    const meta = JSON.parse(entries[0]!.content.toString()) as BundleMeta;
    expect(entries[0]!.name).toBe(BUNDLE_META_FILE);
    expect(meta.app).toBe('back');
    expect(meta.label).toBe('0.4.0');
    expect(meta.git).toEqual({ commit: null, dirty: null });
    expect(Object.keys(meta.manifest.apps)).toEqual(['back']);
    expect(meta.manifest.apps.back!.role).toBe('backend');
    const run = meta.files.find((f) => f.path === 'run.sh');
    expect(run).toMatchObject({ type: 'file', size: 18, mode: 0o755 });
    expect(entries.find((e) => e.name === 'run.sh')!.mode).toBe(0o755);
    for (const entry of entries) expect([entry.mtime, entry.uid, entry.gid]).toEqual([0, 0, 0]);
  });

  it('gives byte-identical archives for the same tree, and for a copy with the same times', async () => {
    const root = await makeTree({ 'ferry.yml': 'apps:\n  cart: {}\n', 'a.js': 'a', 'z/b.js': 'b' });
    const first = await createBundle({ sourceDir: root, out: out('repro-1') });
    const second = await createBundle({ sourceDir: root, out: out('repro-2') });
    const copy = path.join(os.tmpdir(), `ferry-copy-${process.pid}`);
    execFileSync('cp', ['-a', root, copy]);
    const third = await createBundle({ sourceDir: copy, out: out('repro-3') });
    expect(await readFile(second.file)).toEqual(await readFile(first.file));
    expect(await readFile(third.file)).toEqual(await readFile(first.file));
    expect(third.sha256).toBe(first.sha256);
  });

  it('takes the commit time of a clean git tree, so a fresh clone bundles to the same bytes', async () => {
    const root = await makeTree({ 'ferry.yml': 'apps:\n  cart: {}\n', 'a.js': 'a' });
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
        cwd,
        stdio: 'pipe',
      });
    git(root, 'init', '-q');
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'one');
    const clone = path.join(os.tmpdir(), `ferry-clone-${process.pid}`);
    execFileSync('git', ['clone', '-q', root, clone]);
    await utimes(path.join(clone, 'a.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const original = await createBundle({ sourceDir: root, out: out('git-1') });
    const cloned = await createBundle({ sourceDir: clone, out: out('git-2') });
    expect(original.meta.git.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(original.meta.git.dirty).toBe(false);
    expect(cloned.sha256).toBe(original.sha256);

    await makeTree({ 'a.js': 'changed' }, root);
    const dirty = await createBundle({ sourceDir: root, out: out('git-3') });
    expect(dirty.meta.git.dirty).toBe(true);
  });

  it('keeps links inside the app and refuses one that leaves it', async () => {
    const root = await makeTree({ 'ferry.yml': 'apps:\n  cart: {}\n', 'lib/a.js': 'a' });
    await symlink('lib/a.js', path.join(root, 'index.js'));
    const created = await createBundle({ sourceDir: root, out: out('links') });
    expect(created.meta.files).toContainEqual({
      type: 'symlink',
      path: 'index.js',
      target: 'lib/a.js',
    });

    await symlink('../../etc/passwd', path.join(root, 'lib/evil'));
    await expect(createBundle({ sourceDir: root, out: out('links-2') })).rejects.toMatchObject({
      code: 'E_BUNDLE_SYMLINK_OUTSIDE',
      details: { path: 'lib/evil' },
    });
  });

  it('names the problem with a missing folder, a missing manifest and an unknown app', async () => {
    await expect(
      createBundle({ sourceDir: '/nonexistent/ferry', out: out('x') }),
    ).rejects.toMatchObject({
      code: 'E_SOURCE_NOT_FOUND',
    });
    const empty = await makeTree({ 'a.js': 'a' });
    await expect(createBundle({ sourceDir: empty, out: out('x') })).rejects.toMatchObject({
      code: 'E_MANIFEST_NOT_FOUND',
    });
    const tree = await makeTree({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    await expect(
      createBundle({ sourceDir: tree, app: 'front', out: out('x') }),
    ).rejects.toMatchObject({
      code: 'E_MANIFEST_APP_UNKNOWN',
    });
  });
});
