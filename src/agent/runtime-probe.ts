import { execFile } from 'node:child_process';
import { access, constants, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Runtimes } from '../protocol/host-facts.js';

const run = promisify(execFile);

/** A runtime the agent knows: the key of its version in the host's facts. */
export type RuntimeName = keyof Runtimes;

/** Each runtime, the commands that say its version (the first found wins), and how to read it. */
const RUNTIMES: { name: RuntimeName; commands: string[]; version: (out: string) => string }[] = [
  { name: 'node', commands: ['node'], version: (out) => out.replace(/^v/, '') },
  { name: 'npm', commands: ['npm'], version: (out) => out },
  { name: 'python3', commands: ['python3'], version: (out) => out.replace(/^Python /, '') },
  // `pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)`
  { name: 'pip', commands: ['pip3', 'pip'], version: (out) => /^pip (\S+)/.exec(out)?.[1] ?? out },
];

/**
 * The versions of the runtimes on the host's PATH (node, npm, python3, pip).
 * Asking means running each with `--version`, which costs child processes, so
 * the answer is kept, and asked again only when a runtime's binary changes:
 * each report looks up every command on the PATH (`stat` calls, no process)
 * and compares what it finds — its real path (through the symlinks of `npm` or
 * `python3`), inode, size, modification and change times — with what the last
 * probe found. A runtime that an install step brought, upgraded or removed is
 * seen at the next report; an install that touched none is not probed again.
 *
 * @example
 *   const probe = new RuntimeProbe('/usr/local/bin:/usr/bin');
 *   await probe.versions(); // { node: '20.11.1', npm: '10.2.4', python3: '3.11.2', pip: null }
 */
export class RuntimeProbe {
  private known: { fingerprint: string; versions: Promise<Runtimes> } | undefined;

  constructor(private readonly pathVariable: string) {}

  /** The runtimes' versions, from the last probe while their binaries are unchanged. */
  async versions(): Promise<Runtimes> {
    const fingerprint = await this.fingerprint();
    if (this.known?.fingerprint !== fingerprint) {
      const versions = this.probe();
      this.known = { fingerprint, versions };
      // A probe that failed is not kept: the next report asks again.
      versions.catch(() => {
        if (this.known?.versions === versions) this.known = undefined;
      });
    }
    return this.known.versions;
  }

  /** What each runtime command resolves to on the PATH, and its file's identity: no process run. */
  private async fingerprint(): Promise<string> {
    const dirs = this.pathVariable.split(path.delimiter).filter(Boolean);
    const commands = RUNTIMES.flatMap((r) => r.commands);
    const found = await Promise.all(commands.map((command) => binaryOf(command, dirs)));
    return commands.map((command, i) => `${command}=${found[i]}`).join('\n');
  }

  private async probe(): Promise<Runtimes> {
    const found = await Promise.all(
      RUNTIMES.map(
        async ({ name }) => [name, await runtimeVersion(name, this.pathVariable)] as const,
      ),
    );
    return Object.fromEntries(found) as Runtimes;
  }
}

/**
 * The version of one runtime on `pathVariable`, read as the facts report it
 * (`20.11.1`, not `v20.11.1`); null when it is not there or does not say.
 *
 * @example
 *   await runtimeVersion('python3', '/usr/local/bin:/usr/bin'); // '3.11.2'
 */
export async function runtimeVersion(
  name: RuntimeName,
  pathVariable: string,
): Promise<string | null> {
  const runtime = RUNTIMES.find((r) => r.name === name);
  if (!runtime) return null;
  for (const command of runtime.commands) {
    const out = await versionOutput(command, pathVariable);
    if (out !== null) return runtime.version(out) || null;
  }
  return null;
}

/** What `command --version` prints, trimmed; null when it is not there or fails. */
async function versionOutput(command: string, pathVariable: string): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(command, ['--version'], {
      timeout: 10_000,
      env: { PATH: pathVariable, HOME: os.tmpdir() },
    });
    return (stdout || stderr).trim().split('\n')[0]?.trim() || null;
  } catch {
    return null;
  }
}

/**
 * The first executable `command` on the PATH's folders, as the shell would run
 * it, named by its real path and its file's identity (`missing` when none).
 */
async function binaryOf(command: string, dirs: string[]): Promise<string> {
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      const real = await realpath(candidate);
      const s = await stat(real);
      if (!s.isFile()) continue;
      return `${candidate}->${real}@${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      // Not there, or not executable: the shell would look further too.
    }
  }
  return 'missing';
}
