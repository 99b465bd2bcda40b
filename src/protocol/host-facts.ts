import { z } from 'zod';
import { FerryError } from './errors.js';

/**
 * What an agent reports about its host: the machine (OS, kernel, CPUs, memory,
 * disk, load), the runtimes on its PATH, and per app the releases on disk, the
 * one that is current, the service running it and the configuration it runs.
 *
 * Versioned by `factsVersion`. The server accepts every version: a report from
 * an older agent (version 1 had no `factsVersion`) is read into this shape with
 * what it lacks set to null, and fields a newer agent adds are dropped. A field
 * this version knows but of the wrong type makes the report invalid.
 */

/** The version of the facts this code writes. */
export const HOST_FACTS_VERSION = 2;

/** Bounds that keep one report small: a host with more is cut to these. */
export const HOST_FACTS_LIMITS = {
  apps: 200,
  releases: 1000,
  disks: 20,
  vars: 500,
  /** A variable's value in facts (longer ones are cut, ending in `…`). */
  value: 1024,
} as const;

const text = (max = 256) => z.string().max(max);
const optionalText = (max = 256) => text(max).nullable().default(null);
const bytes = z.number().nonnegative().nullable().default(null);
const count = z.int().nonnegative();

/** A runtime's version, such as `20.11.1`; null when it is not on the host's PATH. */
const runtimeVersion = optionalText(100);

export const runtimesSchema = z.object({
  node: runtimeVersion,
  npm: runtimeVersion,
  python3: runtimeVersion,
  pip: runtimeVersion,
});
export type Runtimes = z.infer<typeof runtimesSchema>;

/** One mounted filesystem: the agent's root's, at least. */
export const diskFactsSchema = z.object({
  mount: text(4096),
  sizeBytes: bytes,
  freeBytes: bytes,
});
export type DiskFacts = z.infer<typeof diskFactsSchema>;

/** A variable of a release's configuration: a secret's value is never reported (null). */
export const configVariableSchema = z.object({
  name: text(128),
  value: text(HOST_FACTS_LIMITS.value + 1).nullable(),
  secret: z.boolean(),
});
export type ConfigVariable = z.infer<typeof configVariableSchema>;

/** The service that runs an app's current release, as the process driver sees it. */
export const serviceFactsSchema = z.object({
  running: z.boolean(),
  pid: count.nullable().default(null),
  /** Seconds since the service's process started; null when unknown. */
  uptimeSeconds: z.number().nonnegative().nullable().default(null),
  /**
   * True when the running service's stdout and stderr go to the same file, pipe
   * or socket (its errors end up in its output log: a supervisord program with
   * `redirect_stderr=true`, a systemd unit without a separate `StandardError=`,
   * a command with `2>&1`); null when unknown (not running, not readable, an
   * older agent).
   */
  mergedOutput: z.boolean().nullable().default(null),
  /**
   * The size in bytes of the current release's stdout log
   * (`logs/<version>/service.stdout.log`): 0 for a service that has run a
   * while is one whose output sits in a buffer (Python without
   * `PYTHONUNBUFFERED`). Null when unknown (no such file, an older agent).
   */
  stdoutBytes: z.number().int().nonnegative().nullable().default(null),
});
export type ServiceFacts = z.infer<typeof serviceFactsSchema>;

/** The configuration snapshot the current release runs with (names and non-secret values). */
export const configFactsSchema = z.object({
  installId: optionalText(100),
  deploymentId: optionalText(100),
  vars: z.array(configVariableSchema).max(HOST_FACTS_LIMITS.vars).default([]),
});
export type ConfigFacts = z.infer<typeof configFactsSchema>;

export const appFactsSchema = z.object({
  releases: z.array(count).max(HOST_FACTS_LIMITS.releases).default([]),
  current: count.nullable().default(null),
  previous: count.nullable().default(null),
  /** A short health probe of the current release: `ok`, `failing`, or null when unknown. */
  health: z.enum(['ok', 'failing']).nullable().default(null),
  service: serviceFactsSchema.nullable().default(null),
  config: configFactsSchema.nullable().default(null),
});
export type AppFacts = z.infer<typeof appFactsSchema>;

const appsSchema = z
  .record(text(63), appFactsSchema)
  .refine((apps) => Object.keys(apps).length <= HOST_FACTS_LIMITS.apps, {
    error: `expected at most ${HOST_FACTS_LIMITS.apps} apps`,
  })
  .default({});

/** The facts of one host, in this version's shape: what the server keeps and answers with. */
export const hostFactsSchema = z.object({
  /** The version the agent reported in (1 for an agent older than versioned facts). */
  factsVersion: z.int().positive(),
  /** When the agent gathered them, by its clock; null when it did not say. */
  collectedAt: optionalText(40),
  hostname: optionalText(),
  /** The OS's name: `Debian GNU/Linux 12 (bookworm)`, or the kernel's name when nothing says more. */
  os: optionalText(),
  kernel: optionalText(),
  platform: optionalText(40),
  arch: optionalText(40),
  cpus: count.nullable().default(null),
  memory: z.object({ totalBytes: bytes, freeBytes: bytes }).nullable().default(null),
  disks: z.array(diskFactsSchema).max(HOST_FACTS_LIMITS.disks).default([]),
  /**
   * The share of CPU time (all CPUs) spent busy, not idle, since the agent's
   * previous report, 0–100; null in an agent's first report, and from agents
   * before it.
   */
  cpuBusyPercent: z.number().min(0).max(100).nullable().default(null),
  /** Load averages over 1, 5 and 15 minutes. */
  load: z.array(z.number().nonnegative()).max(3).nullable().default(null),
  runtimes: runtimesSchema.prefault({}),
  agentVersion: optionalText(100),
  roles: z.array(text(63)).max(100).default([]),
  /** The job the agent is running now: the server leaves a busy host alone when catching up. */
  busy: optionalText(100),
  apps: appsSchema,
});
export type HostFacts = z.infer<typeof hostFactsSchema>;
/** Facts as an agent builds them before sending (defaults may be left out). */
export type HostFactsInput = z.input<typeof hostFactsSchema>;

/**
 * A report that says its version: read in this version's shape, a later
 * version's extra fields dropped. (Facts of version 1 read into this shape
 * say `factsVersion: 1` too, as the server stores them.)
 */
const currentReportSchema = hostFactsSchema;

/** A report of version 1, from agents before versioned facts: a flat record. */
const legacyReportSchema = z.object({
  hostname: z.string().optional(),
  /** `${os.type()} ${os.release()}`: `Linux 6.1.0-18-amd64`. */
  os: z.string().optional(),
  platform: z.string().optional(),
  arch: z.string().optional(),
  cpus: count.optional(),
  load: z.array(z.number()).optional(),
  memoryBytes: z.number().optional(),
  freeMemoryBytes: z.number().optional(),
  freeDiskBytes: z.number().nullable().optional(),
  agentVersion: z.string().optional(),
  runtimes: z.record(z.string(), z.string().nullable()).optional(),
  roles: z.array(z.string()).optional(),
  busy: z.string().nullable().optional(),
  apps: z
    .record(
      z.string(),
      z.object({
        current: count.nullable().optional(),
        previous: count.nullable().optional(),
        releases: z.array(count).optional(),
        health: z.enum(['ok', 'failing']).nullable().optional(),
      }),
    )
    .optional(),
});

/** What a version-1 report says, in this version's shape. */
function fromLegacy(report: z.infer<typeof legacyReportSchema>): unknown {
  const [osName, ...kernel] = (report.os ?? '').split(' ');
  return {
    factsVersion: 1,
    hostname: report.hostname ?? null,
    os: osName || null,
    kernel: kernel.join(' ') || null,
    platform: report.platform ?? null,
    arch: report.arch ?? null,
    cpus: report.cpus ?? null,
    memory:
      report.memoryBytes === undefined
        ? null
        : { totalBytes: report.memoryBytes, freeBytes: report.freeMemoryBytes ?? null },
    // Version 1 said only how much was free, of the agent's root's filesystem.
    disks:
      report.freeDiskBytes == null
        ? []
        : [{ mount: '(agent root)', sizeBytes: null, freeBytes: report.freeDiskBytes }],
    load: report.load ?? null,
    runtimes: {
      node: report.runtimes?.node ?? null,
      npm: report.runtimes?.npm ?? null,
      python3: report.runtimes?.python3 ?? null,
      pip: report.runtimes?.pip ?? null,
    },
    agentVersion: report.agentVersion ?? null,
    roles: report.roles ?? [],
    busy: report.busy ?? null,
    apps: Object.fromEntries(
      Object.entries(report.apps ?? {}).map(([app, facts]) => [
        app,
        {
          releases: facts.releases ?? [],
          current: facts.current ?? null,
          previous: facts.previous ?? null,
          health: facts.health ?? null,
        },
      ]),
    ),
  };
}

/**
 * Reads a facts report of any version into this version's shape, or throws
 * `E_FACTS_INVALID` naming every field that is wrong.
 *
 * @example
 *   const facts = parseHostFacts(event.facts);
 *   facts.runtimes.node; // '20.11.1' or null
 */
export function parseHostFacts(report: unknown): HostFacts {
  const version =
    report !== null && typeof report === 'object' && 'factsVersion' in report
      ? report.factsVersion
      : undefined;
  const result =
    version === undefined
      ? legacyReportSchema.transform(fromLegacy).pipe(hostFactsSchema).safeParse(report)
      : currentReportSchema.safeParse(report);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`,
    );
    throw new FerryError(
      'E_FACTS_INVALID',
      `The host's facts report is not valid: ${problems.join('; ')}`,
      { problems, factsVersion: version ?? 1 },
    );
  }
  return result.data;
}

/** One sample of a host's facts history: what the host reported, and when the server took it. */
export interface FactsSample {
  at: string;
  facts: HostFacts;
}

const factValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One fact that differs between two samples, by its dotted name (`runtimes.node`). */
export const factChangeSchema = z.object({
  field: z.string(),
  from: factValueSchema,
  to: factValueSchema,
});
export type FactChange = z.infer<typeof factChangeSchema>;

/** A sample of the history as the API shows it: with what changed since the sample before. */
export const factsHistoryEntrySchema = z.object({
  at: z.string(),
  facts: hostFactsSchema,
  /** Since the sample before; every fact for the oldest sample kept. */
  changes: z.array(factChangeSchema),
});
export type FactsHistoryEntry = z.infer<typeof factsHistoryEntrySchema>;

/** `GET /hosts/:name/facts?history=N`: a host's latest facts, and its newest N samples. */
export const hostFactsQuerySchema = z.strictObject({
  history: z.coerce.number().int().min(0).max(10_000).default(0),
});

export const hostFactsAnswerSchema = z.object({
  host: z.string(),
  hostId: z.string(),
  env: z.string(),
  /** When the server last heard from the host. */
  lastSeenAt: z.string().nullable(),
  facts: hostFactsSchema.nullable(),
  /** Newest first. */
  history: z.array(factsHistoryEntrySchema),
});
export type HostFactsAnswer = z.infer<typeof hostFactsAnswerSchema>;
