import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  copyDependencies,
  dependencyKey,
  keyChange,
  relocatedVenvProblem,
  relocateVenv,
  requirementsOf,
} from './dependency-reuse.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-reuse-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

async function files(root: string, contents: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(contents)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
}

describe('requirementsOf', () => {
  it.each([
    ['-e .', '-e .'],
    ['--editable=./libs/x', '--editable=./libs/x'],
    ['./libs/common', './libs/common'],
    ['common @ file:///srv/x', 'common @ file:///srv/x'],
  ])('says %s installs from the release itself', async (line, named) => {
    await files(dir, { 'requirements.txt': `flask==3.0\n${line}\n` });
    expect((await requirementsOf(dir)).ownFiles).toBe(
      `requirements.txt installs from the release's own files (${named})`,
    );
  });

  it('follows -r and -c, and finds a local path in an included file', async () => {
    await files(dir, {
      'requirements.txt': 'flask==3.0  # web\n-r reqs/base.txt\n--constraint=constraints.txt\n',
      'reqs/base.txt': 'requests==2.31\n-r more.txt\n',
      'reqs/more.txt': 'libs/common\n',
      'constraints.txt': 'urllib3<3\n',
      'libs/common/setup.py': '',
    });
    expect(await requirementsOf(dir)).toEqual({
      included: ['reqs/base.txt', 'reqs/more.txt', 'constraints.txt'],
      ownFiles: "reqs/more.txt installs from the release's own files (libs/common)",
    });
  });

  it('finds nothing of the release in pinned requirements', async () => {
    await files(dir, {
      'requirements.txt': 'flask==3.0\nrequests[socks]>=2 ; python_version>"3"\n',
    });
    expect((await requirementsOf(dir)).ownFiles).toBeNull();
  });
});

describe('dependencyKey', () => {
  it('keys a Python release on the contents of its wheels, included files and pip.conf', async () => {
    await files(dir, {
      'requirements.txt': '-r base.txt\n',
      'base.txt': 'x==1\n',
      'pip.conf': '[global]\n',
      'wheels/x-1.tar.gz': 'sdist v1',
    });
    const before = await dependencyKey('python', dir, [], '3.12.3');
    expect(Object.keys(before?.inputs ?? {})).toEqual([
      'base.txt',
      'pip.conf',
      'wheels/x-1.tar.gz',
    ]);
    await writeFile(path.join(dir, 'wheels/x-1.tar.gz'), 'sdist v1, rebuilt');
    await writeFile(path.join(dir, 'base.txt'), 'x==1\ny==2\n');
    const after = await dependencyKey('python', dir, [], '3.12.3');
    expect(keyChange(before!, after!)).toBe('base.txt, wheels/x-1.tar.gz changed');
  });

  it("keys on the install's environment by name and hash, the release's own path left out", async () => {
    const env = (version: string, dir: string) => ({
      PATH: `${dir}/.venv/bin:/usr/bin`,
      FERRY_VERSION: version,
      FERRY_RELEASE_DIR: dir,
      PIP_INDEX_URL: 'https://user:pw@pypi.example/simple',
    });
    await files(dir, { 'a/requirements.txt': 'x==1\n', 'b/requirements.txt': 'x==1\n' });
    const a = await dependencyKey(
      'python',
      path.join(dir, 'a'),
      [],
      null,
      env('1', path.join(dir, 'a')),
    );
    const b = await dependencyKey(
      'python',
      path.join(dir, 'b'),
      [],
      null,
      env('2', path.join(dir, 'b')),
    );
    expect(keyChange(a!, b!)).toBeNull();
    expect(Object.keys(a?.env ?? {})).toEqual(['PATH', 'PIP_INDEX_URL']);
    expect(JSON.stringify(a)).not.toContain('pw@');
  });

  it('takes a record without the newer inputs as changed', async () => {
    await files(dir, { 'package-lock.json': '{}' });
    const key = await dependencyKey('node', dir, [], '20.11.1');
    const old = { ...key!, inputs: undefined, env: undefined };
    expect(keyChange(old, key!)).toMatch(/^its record predates/);
  });
});

describe('copyDependencies', () => {
  // Fault injected: a cp first on the PATH that fails as GNU cp does, or lacks its options.
  async function withCp(script: string, body: () => Promise<void>): Promise<void> {
    const bin = path.join(dir, 'fake-bin');
    await files(bin, { cp: `#!/bin/sh\n${script}\n` });
    await chmod(path.join(bin, 'cp'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved ?? ''}`;
    try {
      await body();
    } finally {
      process.env.PATH = saved;
    }
  }

  it("fails with cp's own error (disk full), not a second copy", async () => {
    await files(dir, { 'from/a.js': 'a' });
    await withCp(
      'echo "cp: error writing \'$5/a.js\': No space left on device" >&2; exit 1',
      async () => {
        await expect(
          copyDependencies(path.join(dir, 'from'), path.join(dir, 'to')),
        ).rejects.toThrow('No space left on device');
      },
    );
  });

  it('copies with fs.cp when cp lacks the options', async () => {
    await files(dir, { 'from/a.js': 'a' });
    await withCp('echo "cp: illegal option -- -" >&2; echo \'usage: cp [-R]\' >&2; exit 64', () =>
      copyDependencies(path.join(dir, 'from'), path.join(dir, 'to')),
    );
    expect(await readFile(path.join(dir, 'to/a.js'), 'utf8')).toBe('a');
  });
});

describe('relocateVenv', () => {
  it('rewrites the resolved path too, when the old folder was reached through a symlink', async () => {
    const real = path.join(dir, 'real');
    await mkdir(real);
    await symlink(real, path.join(dir, 'link'));
    const madeIn = path.join(dir, 'link/releases/1/.venv');
    const resolved = path.join(await realpath(real), 'releases/1/.venv');
    const to = path.join(dir, 'link/releases/2/.venv');
    await mkdir(madeIn, { recursive: true });
    await files(to, {
      'pyvenv.cfg': `home = /usr/bin\ncommand = /usr/bin/python3 -m venv ${resolved}\n`,
      'bin/pip': `#!${resolved}/bin/python\nimport pip\n`,
    });
    await relocateVenv(to, madeIn);
    expect(await readFile(path.join(to, 'bin/pip'), 'utf8')).toBe(
      `#!${to}/bin/python\nimport pip\n`,
    );
    expect(await readFile(path.join(to, 'pyvenv.cfg'), 'utf8')).not.toContain(resolved);
  });

  it('says what is wrong with a copy that still runs from elsewhere', async () => {
    const to = path.join(dir, 'releases/2/.venv');
    await files(to, { 'bin/python': '#!/bin/sh\necho /elsewhere/.venv\n' });
    await chmod(path.join(to, 'bin/python'), 0o755);
    expect(await relocatedVenvProblem(to, path.join(dir, 'releases/1/.venv'), {})).toBe(
      `the copied .venv's python has its prefix at /elsewhere/.venv, not ${to}`,
    );
    await files(to, { 'bin/activate': `VIRTUAL_ENV=${path.join(dir, 'releases/1/.venv')}\n` });
    expect(await relocatedVenvProblem(to, path.join(dir, 'releases/1/.venv'), {})).toBe(
      `bin/activate of the copied .venv still names ${path.join(dir, 'releases/1/.venv')}`,
    );
  });
});
