import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Requires } from '../../../bundle/manifest-schema.js';
import { parseVersionRange, satisfies } from '../../../bundle/version-range.js';
import { FerryError } from '../../../protocol/errors.js';
import {
  type RequirementCheck,
  type RequiresCheck,
  requiresCheckLine,
} from '../../../protocol/requires-check.js';
import { type RuntimeName, runtimeVersion } from '../../runtime-probe.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/** The manifest's runtime keys, and the runtime of the host's facts each one is. */
const RUNTIMES: readonly { key: 'node' | 'npm' | 'python' | 'pip'; runtime: RuntimeName }[] = [
  { key: 'node', runtime: 'node' },
  { key: 'npm', runtime: 'npm' },
  { key: 'python', runtime: 'python3' },
  { key: 'pip', runtime: 'pip' },
];

/**
 * Checks the manifest's `requires` on this host before anything is fetched or
 * run: each runtime's version against its range, each command on the PATH
 * that commands and the service get (`ctx.env.PATH`, not the agent's). A host
 * that falls short fails the install with `E_REQUIREMENTS_NOT_MET`, naming what
 * it has and what is needed. Whatever the outcome, the step's stdout records
 * every check (see `protocol/requires-check.ts`), so a report can list hosts
 * near a limit. No `requires`, no step.
 */
export const requiresStep: InstallStep = {
  name: 'requires',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx) && ctx.manifest.requires !== undefined,
  async run(ctx) {
    const requires = ctx.manifest.requires!;
    const searchPath = ctx.env.PATH ?? '';
    const checked = await ctx.steps.step('requires', async (context) => {
      const checks = await checkRequires(requires, searchPath);
      for (const check of checks) context.out(`${describe(check)}\n`);
      const result: RequiresCheck = { host: ctx.host.name, path: searchPath, checks };
      context.out(requiresCheckLine(result));
      const unmet = checks.filter((c) => !c.ok);
      if (unmet.length > 0) {
        throw new FerryError(
          'E_REQUIREMENTS_NOT_MET',
          unmet.map((c) => shortfall(c, ctx.host.name, ctx.job.app)).join('; '),
          { host: ctx.host.name, app: ctx.job.app, unmet },
        );
      }
    });
    passed(ctx, checked);
  },
};

/** Every requirement of `requires`, checked against what `searchPath` holds. */
export async function checkRequires(
  requires: Requires,
  searchPath: string,
): Promise<RequirementCheck[]> {
  const runtimes = await Promise.all(
    RUNTIMES.flatMap(({ key, runtime }) => {
      const needed = requires[key];
      if (needed === undefined) return [];
      return [
        runtimeVersion(runtime, searchPath).then((found): RequirementCheck => {
          const range = parseVersionRange(needed);
          return {
            kind: 'runtime',
            name: key,
            needed,
            found,
            ok: found !== null && range !== null && satisfies(found, range),
          };
        }),
      ];
    }),
  );
  const commands = await Promise.all(
    requires.commands.map(async (name): Promise<RequirementCheck> => {
      const found = await findCommand(name, searchPath);
      return { kind: 'command', name, needed: 'on PATH', found, ok: found !== null };
    }),
  );
  return [...runtimes, ...commands];
}

/**
 * Where `/bin/sh` would find `name` on `searchPath`: the first executable file
 * of that name in the PATH's absolute folders; null when there is none.
 */
export async function findCommand(name: string, searchPath: string): Promise<string | null> {
  for (const dir of searchPath.split(path.delimiter)) {
    // A relative folder would be looked up from wherever a command runs: not a place.
    if (!path.isAbsolute(dir)) continue;
    const file = path.join(dir, name);
    try {
      if (!(await stat(file)).isFile()) continue;
      await access(file, constants.X_OK);
      return file;
    } catch {
      // Not there, or not executable: the shell goes on to the next folder too.
    }
  }
  return null;
}

/** One check as a line of the step's output. */
function describe(check: RequirementCheck): string {
  const verdict = check.ok ? 'ok' : 'NOT MET';
  if (check.kind === 'command')
    return `command ${check.name}: ${check.found ?? 'not found on PATH'} (${verdict})`;
  return `${check.name} ${check.found ?? 'not found on PATH'}, needs ${check.needed} (${verdict})`;
}

/** What a host lacks, as the install's error says it: "node 18.19.0 on qa-2, cart needs >=20 <23". */
function shortfall(check: RequirementCheck, host: string, app: string): string {
  if (check.kind === 'command') return `command ${check.name} not found on PATH of ${host}`;
  const has = check.found === null ? `no ${check.name} on PATH` : `${check.name} ${check.found}`;
  return `${has} on ${host}, ${app} needs ${check.needed}`;
}
