import { z } from 'zod';

/**
 * What the agent's `requires` step found on a host, as it records it in the
 * step's stdout: readable lines for people, then one line
 * `ferry-requires: {json}` for the server's report, which reads it with
 * `parseRequiresCheck` to list the hosts that fall short or are near the limit.
 * Step output is the one record every install step already has; the line keeps
 * the result with the install it belongs to.
 */

/** The start of the line that holds the result. */
export const REQUIRES_CHECK_PREFIX = 'ferry-requires: ';

/** One requirement and what the host has. */
export const requirementCheckSchema = z.object({
  /** `runtime`: a version range of `name`; `command`: `name` must be on the PATH. */
  kind: z.enum(['runtime', 'command']),
  /** The manifest's key (`node`, `npm`, `python`, `pip`) or the command's name (`gunicorn`). */
  name: z.string().max(128),
  /** The range the manifest asks for; `on PATH` for a command. */
  needed: z.string().max(256),
  /** The version the host has, or where the command is; null when it has none. */
  found: z.string().max(4096).nullable(),
  ok: z.boolean(),
});
export type RequirementCheck = z.infer<typeof requirementCheckSchema>;

export const requiresCheckSchema = z.object({
  /** The host's name, as enrolled. */
  host: z.string().max(256),
  /** The PATH the commands were looked for on: the one commands and the service get. */
  path: z.string().max(64 * 1024),
  checks: z.array(requirementCheckSchema).max(1000),
});
export type RequiresCheck = z.infer<typeof requiresCheckSchema>;

/** The line that records `check` in the step's stdout (with its line break). */
export function requiresCheckLine(check: RequiresCheck): string {
  return `${REQUIRES_CHECK_PREFIX}${JSON.stringify(check)}\n`;
}

/**
 * The result recorded in a `requires` step's stdout; null when it holds none
 * (an agent before the step, output cut short) or the line does not parse.
 *
 * @example
 *   const check = parseRequiresCheck(install.steps.find((s) => s.step === 'requires')?.stdout ?? '');
 *   check?.checks.filter((c) => !c.ok); // what the host falls short of
 */
export function parseRequiresCheck(stdout: string): RequiresCheck | null {
  const line = stdout.split('\n').find((l) => l.startsWith(REQUIRES_CHECK_PREFIX));
  if (line === undefined) return null;
  try {
    const parsed = requiresCheckSchema.safeParse(
      JSON.parse(line.slice(REQUIRES_CHECK_PREFIX.length)),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
