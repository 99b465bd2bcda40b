import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What git says of a source folder; all `null` outside a work tree or without git. */
export interface GitInfo {
  commit: string | null;
  dirty: boolean | null;
  commitTime: Date | null;
}

/** Reads the commit checked out in `dir` and whether the files under `dir` differ from it. */
export async function readGitInfo(dir: string): Promise<GitInfo> {
  const git = async (...args: string[]) =>
    (await run('git', ['-C', dir, ...args], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }))
      .stdout;
  try {
    const commit = (await git('rev-parse', '--verify', 'HEAD')).trim();
    const status = await git('status', '--porcelain', '--untracked-files=normal', '--', '.');
    const time = (await git('log', '-1', '--format=%ct', 'HEAD')).trim();
    return { commit, dirty: status.trim().length > 0, commitTime: new Date(Number(time) * 1000) };
  } catch {
    // Not a git work tree, no commit yet, or git missing: the bundle says so with nulls.
    return { commit: null, dirty: null, commitTime: null };
  }
}
