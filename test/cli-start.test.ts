import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from './helpers/ferry-process.js';

/**
 * The CLI's own start (issue 18): a client command loads its own module, not
 * the whole command tree, and `ferry --version` no command at all; help and
 * the "did you mean" of a mistyped command are what the whole program gives.
 * What each run loaded is read from bench/module-trace.mjs, preloaded.
 */

const TRACER = fileURLToPath(new URL('../bench/module-trace.mjs', import.meta.url));

let traces: string;

beforeAll(async () => {
  traces = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-start-'));
});

afterAll(async () => {
  await rm(traces, { recursive: true, force: true });
});

/** Runs `ferry args` traced; answers what it printed and the modules it loaded. */
async function traced(name: string, args: string[]) {
  const trace = path.join(traces, `${name}.trace`);
  const result = await runFerry(args, {
    env: { NODE_OPTIONS: `--import=${TRACER}`, FERRY_MODULE_TRACE: trace },
  });
  const lines = (await readFile(trace, 'utf8')).split('\n').filter(Boolean);
  const files = [...new Set(lines)].map((line) =>
    line.startsWith('file://') ? fileURLToPath(line) : line,
  );
  const packages = new Set(
    files.map((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1]).filter(Boolean),
  );
  /** Ferry's own modules, relative to dist/ (`cli/commands/deploy.js`). */
  const own = files
    .filter((file) => file.includes('/dist/'))
    .map((file) => file.slice(file.lastIndexOf('/dist/') + 6));
  return { ...result, packages, own };
}

describe("the CLI's start", () => {
  it('ferry rollback --help loads its own declarations only: no other command, no API client, no schema', async () => {
    const run = await traced('rollback-help', ['rollback', '--help']);
    expect(run.code).toBe(0);
    expect(run.own.filter((file) => file.startsWith('cli/commands/'))).toEqual([
      'cli/commands/deploy.js',
    ]);
    expect(run.own.filter((file) => /^(server|store|agent|report|web|demo)\//.test(file))).toEqual(
      [],
    );
    expect(['zod', 'yaml', 'ignore', 'tar-stream'].filter((p) => run.packages.has(p))).toEqual([]);
  });

  it('ferry rollback, run, loads what it does and still no other command', async () => {
    // No server listens on port 9: the command gets as far as its first request.
    const run = await traced('rollback', [
      '--server',
      'http://127.0.0.1:9',
      'rollback',
      'cart',
      '--env',
      'qa',
    ]);
    expect(run.stderr).toContain('Cannot reach the Ferry server at http://127.0.0.1:9');
    expect(run.own.filter((file) => file.startsWith('cli/commands/')).sort()).toEqual([
      'cli/commands/deploy-start.js',
      'cli/commands/deploy.js',
    ]);
    expect(['yaml', 'ignore', 'tar-stream'].filter((p) => run.packages.has(p))).toEqual([]);
  });

  it('ferry --version loads no command and no schema library', async () => {
    const run = await traced('version', ['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(run.own.filter((file) => file.startsWith('cli/commands/'))).toEqual([]);
    expect(run.packages.has('zod')).toBe(false);
  });

  it("a command's help, loaded alone, is the help the whole program gives it", async () => {
    const [alone, whole] = await Promise.all([
      runFerry(['rollback', '--help']),
      runFerry(['help', 'rollback']),
    ]);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toContain('--env <env>');
    expect(alone.stdout).toBe(whole.stdout);
  });

  it('a mistyped command still gets the whole program\'s "did you mean"', async () => {
    const run = await runFerry(['rollbak', 'cart']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("unknown command 'rollbak'");
    expect(run.stderr).toContain('rollback');
  });
});
