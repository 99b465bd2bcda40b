import { z } from 'zod';
import { FIELD_LIMITS, PLAIN_NAME, roleNameSchema } from '../protocol/fields.js';
import { parseVersionRange, VERSION_RANGE_MAX } from './version-range.js';

/**
 * The schema of `ferry.yml`, strict: an unknown key is an error that names it.
 * Parsing fills the defaults, so the output is the *resolved* manifest that goes
 * into every bundle's `ferry-bundle.json`. Every string and list is bounded
 * (`FIELD_LIMITS`), far beyond what an app needs: the section is recorded with each
 * bundle.
 */

const DURATION = /^\d+(\.\d+)?(ms|s|m|h)$/;

/** A duration such as `500ms`, `10s`, `2m`, `1h`. */
export const durationSchema = z
  .string({ error: 'expected a duration such as "10s" or "500ms"' })
  .max(32, { error: 'expected a duration such as "10s" or "500ms"' })
  .regex(DURATION, { error: 'expected a duration such as "10s" or "500ms"' });

/**
 * A duration between `minMs` and `maxMs`, for one that sets a timer: Node
 * fires a timer longer than 2^31-1 ms (24.8 days) after 1 ms instead, so an
 * unbounded one turns into a busy loop; `range` is said in the error.
 *
 * @example
 *   const every = durationBetween(100, 3_600_000, '100ms and 1h').default('30s');
 */
export function durationBetween(minMs: number, maxMs: number, range: string) {
  return durationSchema.refine(
    (text) => parseDuration(text) >= minMs && parseDuration(text) <= maxMs,
    { error: `expected a duration between ${range}` },
  );
}

/** Milliseconds of a duration that passed `durationSchema`. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new RangeError(`not a duration: ${text}`);
  const value = Number.parseFloat(text);
  const unit = match[2];
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(value * factor);
}

/** App names are used in paths, queue names and URLs: keep them plain. */
export const appNameSchema = z.string().regex(PLAIN_NAME, {
  error: 'expected an app name: lower-case letters, digits and dashes, starting with a letter',
});

/** A command, a pattern, a check: one line of text of bounded length. */
const text = (error: string) => z.string({ error }).min(1).max(FIELD_LIMITS.text);

/** A list of at most `FIELD_LIMITS.list` entries. */
const list = <T extends z.ZodType>(item: T, error: string) =>
  z.array(item, { error }).max(FIELD_LIMITS.list, {
    error: `expected at most ${FIELD_LIMITS.list} entries`,
  });

const commandList = list(text('expected a command (a string)'), 'expected a list of commands');

const relativePath = z
  .string({ error: 'expected a relative path' })
  .min(1)
  .max(FIELD_LIMITS.path)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
    error: 'expected a relative path that stays inside the source tree',
  });

const serviceSchema = z.strictObject({
  command: text('expected the command that starts the service'),
  env: z
    .record(
      z.string().min(1).max(128),
      z.string({ error: 'expected a string value' }).max(FIELD_LIMITS.text),
    )
    .refine((env) => Object.keys(env).length <= FIELD_LIMITS.list, {
      error: `expected at most ${FIELD_LIMITS.list} variables`,
    })
    .default({}),
  stopSignal: z
    .enum(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'])
    .default('SIGTERM'),
  stopTimeout: durationSchema.default('10s'),
});

const healthSchema = z
  .strictObject({
    http: text('expected a URL').optional(),
    tcp: text('expected host:port').optional(),
    command: text('expected a command').optional(),
    expectStatus: z.int().min(100).max(599).default(200),
    contains: z.string().max(FIELD_LIMITS.text).optional(),
    timeout: durationSchema.default('30s'),
    interval: durationSchema.default('1s'),
    /** Continuous health: how often the agent checks a running release after its install. */
    every: durationBetween(100, 3_600_000, '100ms and 1h').default('30s'),
  })
  .superRefine((health, ctx) => {
    const kinds = (['http', 'tcp', 'command'] as const).filter((k) => health[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one of http, tcp or command, found ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
      });
    }
  });

const hooksSchema = z.strictObject({
  beforeInstall: commandList.default([]),
  afterInstall: commandList.default([]),
  beforeStart: commandList.default([]),
  afterStart: commandList.default([]),
  validate: commandList.default([]),
});

const RANGE_ERROR =
  'expected a version range such as ">=20 <23", "^20.11", "3.11.x" or "18 || >=20"';

/** A version range (see `version-range.ts`), checked here so that a bad one names its key. */
const versionRangeSchema = z
  .string({
    // YAML reads `python: 3.10` as the number 3.1: say to quote it.
    error: (issue) =>
      typeof issue.input === 'number'
        ? `expected a version range in quotes: YAML reads ${String(issue.input)} as a number (write "3.10", not 3.10)`
        : RANGE_ERROR,
  })
  .max(VERSION_RANGE_MAX, { error: RANGE_ERROR })
  .refine((range) => range.trim() !== '' && parseVersionRange(range) !== null, {
    error: RANGE_ERROR,
  });

/** A command looked up on the PATH: a plain file name, never a path or a shell word. */
const commandNameSchema = z
  .string({ error: 'expected a command name (a string)' })
  .regex(/^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,127}$/, {
    error: 'expected a command name such as "gunicorn": no slash, space or shell character',
  });

/**
 * What a host must have before the release is installed there: the versions of
 * the runtimes the agent knows (those it reports in its facts) and commands on
 * the PATH commands and the service get. The agent checks it first (the
 * `requires` step) and fails the install on a host that falls short.
 */
export const requiresSchema = z.strictObject({
  node: versionRangeSchema.optional(),
  npm: versionRangeSchema.optional(),
  python: versionRangeSchema.optional(),
  pip: versionRangeSchema.optional(),
  commands: list(commandNameSchema, 'expected a list of command names').default([]),
});
export type Requires = z.output<typeof requiresSchema>;

/** A regular expression, checked here so that one that does not compile names its key. */
const warningPatternSchema = text('expected a regular expression (a string)').superRefine(
  (source, ctx) => {
    try {
      new RegExp(source);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a regular expression: ${(err as Error).message}`,
      });
    }
  },
);

/**
 * What the release report looks for in this app's output beyond its defaults:
 * `warnings` are regular expressions (JavaScript syntax) a line of any step's
 * output, or of the service's first output, is a warning for.
 */
export const reportSectionSchema = z.strictObject({
  warnings: list(warningPatternSchema, 'expected a list of regular expressions').default([]),
});

/** One app's section of the manifest. */
export const appManifestSchema = z.strictObject({
  path: relativePath.default('.'),
  exclude: list(text('expected a pattern'), 'expected a list of patterns').default([]),
  role: roleNameSchema.optional(),
  install: commandList.default([]),
  // `python`: the agent makes a virtualenv per release and installs requirements.txt
  // into it (agent.md). Either runtime keys the reuse of installed dependencies.
  runtime: z.enum(['node', 'python'], { error: 'expected "node" or "python"' }).optional(),
  // false: every release runs its install afresh, even with an unchanged lockfile.
  reuseDependencies: z.boolean({ error: 'expected true or false' }).optional(),
  migrate: commandList.default([]),
  requires: requiresSchema.optional(),
  service: serviceSchema.optional(),
  health: healthSchema.optional(),
  hooks: hooksSchema.prefault({}),
  shared: list(relativePath, 'expected a list of relative paths').default([]),
  report: reportSectionSchema.optional(),
  keepReleases: z
    .int({ error: 'expected a whole number' })
    .min(1, { error: 'expected at least 1' })
    .default(5),
});

/** The whole `ferry.yml`. */
export const manifestSchema = z.strictObject({
  // Names are checked beside the sections, not as record keys, so that a bad name
  // does not hide the problems inside its section.
  apps: z
    .record(z.string(), appManifestSchema, { error: 'expected a map of app names to app sections' })
    .superRefine(
      (apps, ctx) => {
        const names = Object.keys(apps);
        if (names.length === 0)
          ctx.addIssue({ code: 'custom', message: 'expected at least one app' });
        for (const name of names) {
          const checked = appNameSchema.safeParse(name);
          if (!checked.success) {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: checked.error.issues[0]!.message,
            });
          }
        }
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
});

export type AppManifestInput = z.input<typeof appManifestSchema>;
/** An app's section with every default filled in (`role` too). */
export type AppManifest = z.output<typeof appManifestSchema> & { role: string };
export type Manifest = { apps: Record<string, AppManifest> };
