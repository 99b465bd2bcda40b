import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readArchive, writeArchive, type RawEntry } from '../../test/helpers/archive.js';
import { appTree, makeTree } from '../../test/helpers/source-tree.js';
import { FerryError, type ErrorCode } from '../protocol/errors.js';
import { BUNDLE_META_FILE, type BundleFile, type BundleMeta } from './bundle-meta.js';
import type { BundleLimits } from './inspect-bundle.js';
import { createBundle, type CreatedBundle } from './pack.js';
import { unpackBundle } from './unpack.js';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * A fresh folder per test: `root/bundle.tar.gz` is the archive, `root/parent/release`
 * the release to make. A hostile entry aims at `root` or `parent`; both listings are
 * checked after every refusal.
 */
interface Scene {
  root: string;
  parent: string;
  dest: string;
  archive: string;
}

async function scene(): Promise<Scene> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-unpack-'));
  const parent = path.join(root, 'parent');
  await mkdir(parent);
  return {
    root,
    parent,
    dest: path.join(parent, 'release'),
    archive: path.join(root, 'bundle.tar.gz'),
  };
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** Every path under `dir`, relative and sorted; folders included. */
async function listing(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

let base: CreatedBundle;
let baseTree: Record<string, string>;

beforeAll(async () => {
  baseTree = appTree('web', 'base');
  const root = await makeTree(baseTree);
  base = await createBundle({
    sourceDir: root,
    out: path.join(root, '..', `${path.basename(root)}.tar.gz`),
  });
});

/** `ferry-bundle.json` of the base bundle with another file list. */
function metaWith(files: unknown[]): BundleMeta {
  return { ...base.meta, files: files as BundleFile[] };
}

/** A file as the list gives it and as the archive holds it. */
function file(name: string, content: Buffer | string, mode = 0o644): [BundleFile, RawEntry] {
  const bytes = Buffer.from(content);
  return [
    { type: 'file', path: name, size: bytes.length, mode, sha256: sha256(bytes) },
    { name, content: bytes, mode },
  ];
}

function hostile(
  files: unknown[],
  entries: RawEntry[],
  options: { trailing?: Buffer } = {},
): Promise<Buffer> {
  return writeArchive(
    [{ name: BUNDLE_META_FILE, content: JSON.stringify(metaWith(files)) }, ...entries],
    options,
  );
}

interface RefusalOptions {
  code: ErrorCode;
  /** The entry the message must name. */
  entry?: string;
  limits?: BundleLimits;
  expectedSha256?: string;
  checkFileHashes?: boolean;
  /** Paths outside the release a hostile entry aimed at. */
  outside?: string[];
}

/**
 * Unpacks `archive` in `s` and checks the refusal: its code, the entry named, no
 * release left, and nothing new in the parent, in the root or at `outside`.
 */
async function expectRefused(
  s: Scene,
  archive: Buffer,
  options: RefusalOptions,
): Promise<FerryError> {
  await writeFile(s.archive, archive);
  const error: unknown = await unpackBundle({
    archive: s.archive,
    dest: s.dest,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.expectedSha256 ? { expectedSha256: options.expectedSha256 } : {}),
    ...(options.checkFileHashes ? { checkFileHashes: true } : {}),
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(FerryError);
  const ferryError = error as FerryError;
  expect(ferryError.code, ferryError.message).toBe(options.code);
  if (options.entry) expect(ferryError.message).toContain(`"${options.entry}"`);
  expect(await exists(s.dest)).toBe(false);
  expect(await readdir(s.parent)).toEqual([]);
  expect((await readdir(s.root)).sort()).toEqual(['bundle.tar.gz', 'parent']);
  for (const aim of options.outside ?? []) expect(await exists(aim), aim).toBe(false);
  return ferryError;
}

describe('unpackBundle', () => {
  it('writes the release exactly as the source tree: bytes, modes, links and ferry-bundle.json', async () => {
    const root = await makeTree({
      'ferry.yml': 'apps:\n  shop: {}\n',
      'server.js': 'console.log("shop");\n',
      'bin/run.sh': '#!/bin/sh\nexec node server.js\n',
      'lib/deep/a.js': 'export const a = 1;\n',
      'data.bin': randomBytes(600 * 1024),
      'empty.txt': '',
    });
    await chmod(path.join(root, 'bin/run.sh'), 0o755);
    await symlink('lib/deep/a.js', path.join(root, 'a.js'));
    await symlink('../lib', path.join(root, 'bin/lib'));
    const created = await createBundle({ sourceDir: root, out: `${root}.tar.gz` });
    const s = await scene();
    const progress: [number, number][] = [];

    const meta = await unpackBundle({
      archive: created.file,
      dest: s.dest,
      expectedSha256: created.sha256,
      onProgress: (done, total) => progress.push([done, total]),
    });

    expect(meta).toEqual(created.meta);
    const metaEntry = (await readArchive(created.file))[0]!;
    expect(await readFile(path.join(s.dest, BUNDLE_META_FILE))).toEqual(metaEntry.content);
    expect((await stat(path.join(s.dest, BUNDLE_META_FILE))).mode & 0o777).toBe(0o644);
    expect(meta.files.map((f) => `${f.type} ${f.path}`)).toEqual([
      'symlink a.js',
      'symlink bin/lib',
      'file bin/run.sh',
      'file data.bin',
      'file empty.txt',
      'file ferry.yml',
      'file lib/deep/a.js',
      'file server.js',
    ]);
    for (const entry of meta.files) {
      const source = path.join(root, entry.path);
      const unpacked = path.join(s.dest, entry.path);
      if (entry.type === 'symlink') {
        expect((await lstat(unpacked)).isSymbolicLink()).toBe(true);
        expect(await readlink(unpacked)).toBe(await readlink(source));
      } else {
        // Digests, not buffers: a deep equal of 600 KiB takes seconds.
        expect(sha256(await readFile(unpacked)), entry.path).toBe(sha256(await readFile(source)));
        const mode = (await stat(unpacked)).mode & 0o777;
        expect(mode, entry.path).toBe(entry.mode);
        expect(mode, entry.path).toBe((await stat(source)).mode & 0o777);
      }
    }
    expect(await listing(s.dest)).toEqual(
      [...meta.files.map((f) => f.path), BUNDLE_META_FILE, 'bin', 'lib', 'lib/deep'].sort(),
    );
    expect(await readdir(s.parent)).toEqual(['release']);
    const total = meta.files.reduce((sum, f) => sum + (f.type === 'file' ? f.size : 0), 0);
    expect(progress.at(-1)).toEqual([total, total]);
  });

  it('refuses a release folder that already exists, and leaves it as it was', async () => {
    const s = await scene();
    await mkdir(s.dest);
    await writeFile(path.join(s.dest, 'keep.txt'), 'mine');
    const error = await unpackBundle({ archive: base.file, dest: s.dest }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_RELEASE_EXISTS' });
    expect(await readdir(s.dest)).toEqual(['keep.txt']);
  });

  it('refuses what is not a bundle: no gzip, no tar, no or a broken ferry-bundle.json', async () => {
    await expectRefused(await scene(), randomBytes(2000), { code: 'E_BUNDLE_NOT_GZIP' });
    await expectRefused(await scene(), gzipSync('not a tar '.repeat(200)), {
      code: 'E_BUNDLE_NOT_TAR',
    });
    await expectRefused(await scene(), await writeArchive([{ name: 'server.js', content: 'x' }]), {
      code: 'E_BUNDLE_META_MISSING',
    });
    await expectRefused(
      await scene(),
      await writeArchive([{ name: BUNDLE_META_FILE, content: '{"format":' }]),
      { code: 'E_BUNDLE_META_INVALID' },
    );
  });

  it('refuses absolute paths, listed or only in the archive', async () => {
    const listed = await scene();
    const aim = path.join(listed.root, 'abs.txt');
    const [entry, raw] = file(aim, 'pwned');
    await expectRefused(listed, await hostile([entry], [raw]), {
      code: 'E_BUNDLE_UNSAFE_PATH',
      entry: aim,
      outside: [aim],
    });

    const sneaky = await scene();
    const sneakyAim = path.join(sneaky.root, 'abs.txt');
    const [innocent] = file('abs.txt', 'pwned');
    await expectRefused(
      sneaky,
      await hostile([innocent], [{ name: sneakyAim, content: 'pwned' }]),
      {
        code: 'E_BUNDLE_UNSAFE_PATH',
        entry: sneakyAim,
        outside: [sneakyAim],
      },
    );
  });

  it('refuses ".." segments, listed or only in the archive', async () => {
    const listed = await scene();
    const [entry, raw] = file('../evil.txt', 'pwned');
    await expectRefused(listed, await hostile([entry], [raw]), {
      code: 'E_BUNDLE_UNSAFE_PATH',
      entry: '../evil.txt',
      outside: [path.join(listed.parent, 'evil.txt')],
    });

    const sneaky = await scene();
    const [innocent] = file('lib/evil.txt', 'pwned');
    await expectRefused(
      sneaky,
      await hostile([innocent], [{ name: 'lib/../../../evil.txt', content: 'pwned' }]),
      {
        code: 'E_BUNDLE_UNSAFE_PATH',
        entry: 'lib/../../../evil.txt',
        outside: [path.join(sneaky.root, 'evil.txt')],
      },
    );
  });

  it('refuses links that point outside the release, chains included', async () => {
    for (const target of ['../..', '/etc', 'lib/../../x']) {
      const s = await scene();
      await expectRefused(
        s,
        await hostile(
          [{ type: 'symlink', path: 'out', target }],
          [{ name: 'out', type: 'symlink', linkname: target }],
        ),
        { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'out' },
      );
    }

    // q -> . and p -> q/.. : each looks inside alone; together p is the release's parent.
    const chain = await scene();
    await expectRefused(
      chain,
      await hostile(
        [
          { type: 'symlink', path: 'p', target: 'q/..' },
          { type: 'symlink', path: 'q', target: '.' },
        ],
        [
          { name: 'p', type: 'symlink', linkname: 'q/..' },
          { name: 'q', type: 'symlink', linkname: '.' },
        ],
      ),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'p' },
    );

    // Listed as a link that stays inside, but the archive's link leaves.
    const sneaky = await scene();
    await expectRefused(
      sneaky,
      await hostile(
        [{ type: 'symlink', path: 'out', target: 'server.js' }],
        [{ name: 'out', type: 'symlink', linkname: sneaky.root }],
      ),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'out' },
    );
  });

  it('refuses files written through a link, even one that stays inside', async () => {
    const inside = await scene();
    const [under, underRaw] = file('lib/x.js', 'x');
    await expectRefused(
      inside,
      await hostile(
        [{ type: 'symlink', path: 'lib', target: 'src' }, under],
        [{ name: 'lib', type: 'symlink', linkname: 'src' }, underRaw],
      ),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'lib/x.js' },
    );
  });

  it('refuses a link to / followed by a file under it, listed or only in the archive', async () => {
    const listed = await scene();
    const aim = path.join(listed.root, 'pwned.txt');
    const [through, throughRaw] = file(`escape${aim}`, 'pwned');
    await expectRefused(
      listed,
      await hostile(
        [{ type: 'symlink', path: 'escape', target: '/' }, through],
        [{ name: 'escape', type: 'symlink', linkname: '/' }, throughRaw],
      ),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'escape', outside: [aim] },
    );

    // The list names only the file; the archive slips the link in before it.
    const sneaky = await scene();
    const sneakyAim = path.join(sneaky.root, 'pwned.txt');
    const [onlyFile, onlyFileRaw] = file(`escape${sneakyAim}`, 'pwned');
    await expectRefused(
      sneaky,
      await hostile([onlyFile], [{ name: 'escape', type: 'symlink', linkname: '/' }, onlyFileRaw]),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'escape', outside: [sneakyAim] },
    );
  });

  it('refuses a hard link to /etc/passwd', async () => {
    const before = await stat('/etc/passwd');
    const content = await readFile('/etc/passwd');
    const [entry] = file('passwd', content);
    await expectRefused(
      await scene(),
      await hostile([entry], [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }]),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'passwd' },
    );
    const after = await stat('/etc/passwd');
    expect(after.nlink).toBe(before.nlink);
    expect(await readFile('/etc/passwd')).toEqual(content);
  });

  it('refuses a FIFO and a character device', async () => {
    for (const type of ['fifo', 'character-device'] as const) {
      const [entry] = file('dev', '');
      await expectRefused(await scene(), await hostile([entry], [{ name: 'dev', type }]), {
        code: 'E_BUNDLE_UNSAFE_PATH',
        entry: 'dev',
      });
    }
  });

  it('refuses directory entries and entries it does not expect', async () => {
    const [entry, raw] = file('lib/a.js', 'a');
    await expectRefused(
      await scene(),
      await hostile([entry], [{ name: 'lib', type: 'directory' }, raw]),
      { code: 'E_BUNDLE_UNSAFE_PATH', entry: 'lib' },
    );
    await expectRefused(
      await scene(),
      await hostile([entry], [raw, { name: 'extra.js', content: 'unlisted' }]),
      { code: 'E_BUNDLE_CONTENT_MISMATCH', entry: 'extra.js' },
    );
  });

  it('refuses more files than the limit, listed or only in the archive', async () => {
    await expectRefused(await scene(), await readFile(base.file), {
      code: 'E_BUNDLE_TOO_LARGE',
      limits: { maxFiles: 2, maxUnpackedBytes: 1e9 },
    });
    const [one, oneRaw] = file('one.txt', '1');
    await expectRefused(
      await scene(),
      await hostile([one], [oneRaw, { name: 'two.txt', content: '2' }]),
      {
        code: 'E_BUNDLE_TOO_LARGE',
        entry: 'two.txt',
        limits: { maxFiles: 1, maxUnpackedBytes: 1e9 },
      },
    );
  });

  describe('a gzip bomb', () => {
    const limits: BundleLimits = { maxFiles: 100, maxUnpackedBytes: 1024 * 1024 };
    const zeros = Buffer.alloc(8 * 1024 * 1024);

    it('is refused before a byte is written when the list declares its size', async () => {
      const [entry, raw] = file('zeros.bin', zeros);
      const archive = await hostile([entry], [raw]);
      expect(archive.length).toBeLessThan(64 * 1024);
      await expectRefused(await scene(), archive, { code: 'E_BUNDLE_TOO_LARGE', limits });
    });

    it('is refused when the list lies about the size', async () => {
      const [entry] = file('zeros.bin', Buffer.alloc(10));
      const archive = await hostile([entry], [{ name: 'zeros.bin', content: zeros }]);
      expect(archive.length).toBeLessThan(64 * 1024);
      await expectRefused(await scene(), archive, {
        code: 'E_BUNDLE_TOO_LARGE',
        entry: 'zeros.bin',
        limits,
      });
    });

    it('is refused when it hides past the end of the tar, after files within the limits', async () => {
      const [entry, raw] = file('small.txt', 'within the limits');
      const archive = await hostile([entry], [raw], { trailing: Buffer.alloc(32 * 1024 * 1024) });
      expect(archive.length).toBeLessThan(64 * 1024);
      await expectRefused(await scene(), archive, { code: 'E_BUNDLE_TOO_LARGE', limits });
    });
  });

  // A push accepts an archive followed by zero bytes and refuses one followed by
  // anything else (see inspect-bundle.ts): the agent must unpack what a push took.
  it('unpacks an archive followed by zero padding, its sha256 that of all its bytes', async () => {
    const s = await scene();
    const padded = Buffer.concat([await readFile(base.file), Buffer.alloc(3 * 1024 * 1024)]);
    await writeFile(s.archive, padded);
    const meta = await unpackBundle({
      archive: s.archive,
      dest: s.dest,
      expectedSha256: sha256(padded),
    });
    expect(meta.app).toBe(base.meta.app);
    expect(await readFile(path.join(s.dest, 'server.js'), 'utf8')).toBe(baseTree['server.js']);
  });

  it('refuses an archive followed by bytes that are not zero padding', async () => {
    const archive = await readFile(base.file);
    await expectRefused(await scene(), Buffer.concat([archive, randomBytes(64 * 1024)]), {
      code: 'E_BUNDLE_NOT_GZIP',
    });
    await expectRefused(
      await scene(),
      Buffer.concat([archive, Buffer.alloc(1024 * 1024), randomBytes(1024 * 1024)]),
      { code: 'E_BUNDLE_NOT_GZIP' },
    );
  });

  it('refuses an archive whose sha256 is not the expected one, after unpacking it all', async () => {
    await expectRefused(await scene(), await readFile(base.file), {
      code: 'E_BUNDLE_CONTENT_MISMATCH',
      expectedSha256: '0'.repeat(64),
    });
  });

  /** The base bundle with server.js's bytes changed, its list (and so its sha256s) as pushed. */
  function tamperedEntries(): RawEntry[] {
    const names = base.meta.files.map((f) => f.path);
    expect(names.at(-1)).toBe('server.js');
    return names.map((name) => {
      const original = baseTree[name]!;
      const content = name === 'server.js' ? 'X'.repeat(original.length) : original;
      return { name, content };
    });
  }

  it('with checkFileHashes, refuses a tampered file, after writing the files before it', async () => {
    await expectRefused(await scene(), await hostile(base.meta.files, tamperedEntries()), {
      code: 'E_BUNDLE_CONTENT_MISMATCH',
      entry: 'server.js',
      checkFileHashes: true,
    });
  });

  it('leaves the files to the archive sha256 by default: no file is hashed again', async () => {
    // The server checked every file against the list at push, and the archive's
    // sha256 (which the server signs, and the agent checks before unpacking)
    // binds them: unpacking does not hash them a second time. What it checks
    // without hashing (path, size, mode, type) it still refuses.
    const archive = await hostile(base.meta.files, tamperedEntries());
    const s = await scene();
    await writeFile(s.archive, archive);
    await unpackBundle({ archive: s.archive, dest: s.dest });
    expect(await readFile(path.join(s.dest, 'server.js'), 'utf8')).toMatch(/^X+$/);
    await expectRefused(await scene(), archive, {
      code: 'E_BUNDLE_CONTENT_MISMATCH',
      expectedSha256: sha256(await readFile(base.file)),
    });
  });
});
