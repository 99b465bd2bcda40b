import { z } from 'zod';
import { appNameSchema } from '../bundle/manifest-schema.js';
import { INSTALL_PURPOSES, INSTALL_STATES, verdictStateSchema } from './api.js';
import { DEPLOYMENT_KINDS, DEPLOYMENT_STATES } from './deployment-api.js';
import { labelSchema, versionTextSchema } from './fields.js';
import {
  NOTE_SECTIONS,
  noteImpactSchema,
  noteRecordSchema,
  noteSubjectSchema,
} from './note-api.js';

/**
 * The release report: what went where, what went wrong, what Ferry found by
 * itself and what people noted — for one bundle (`cart@12`) or a label (every
 * bundle pushed with it, across apps). One JSON shape, built by the server
 * from its records and the hosts' facts; the terminal, Markdown and HTML
 * forms are renderings of it, so each says the same thing.
 *
 * Drift between the hosts of an environment has its own answer too
 * (`ferry drift`), and the report's drift findings are made of the same
 * differences.
 *
 * @example
 *   const report = reportSchema.parse(await client.call('getReport', { query: { label: '0.4.0' } }));
 *   report.findings.filter((f) => f.kind === 'warnings').flatMap((f) => f.entries);
 */

/** The version of the report's JSON shape; a change that removes or renames a field raises it. */
export const REPORT_VERSION = 1;

/** The query of `GET /report`: one bundle, or a label. */
export const reportQuerySchema = z.union(
  [
    z.strictObject({ app: appNameSchema, version: versionTextSchema }),
    z.strictObject({ label: labelSchema }),
  ],
  { error: 'expected app and version (app=cart&version=12), or label (label=0.4.0), not both' },
);
export type ReportQuery = z.infer<typeof reportQuerySchema>;

const at = z.string();
const durationMs = z.number().int().nonnegative().nullable();

/** One bundle of the release, with its verdict now. */
export const reportBundleSchema = z.object({
  app: z.string(),
  version: z.number().int(),
  label: z.string().nullable(),
  commit: z.string().nullable(),
  sha256: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  pushedBy: z.string(),
  pushedAt: at,
  verdict: z.object({
    state: verdictStateSchema,
    by: z.string().nullable(),
    at: at.nullable(),
    note: z.string().nullable(),
  }),
});
export type ReportBundle = z.infer<typeof reportBundleSchema>;

/**
 * One stop of a bundle's path: pushed, a deployment to an environment (when it
 * ended, and how), a verdict. In the order they happened.
 */
export const pathStopSchema = z.object({
  kind: z.enum(['pushed', 'deployed', 'verdict', 'rolled-back']),
  /** The environment, for a deployment or a rollback; else null. */
  env: z.string().nullable(),
  /** The deployment's end state, or the verdict (`passed`, `failed`); null for `pushed`. */
  outcome: z.string().nullable(),
  at,
  by: z.string().nullable(),
});
export type PathStop = z.infer<typeof pathStopSchema>;

/** How one bundle did in one environment, counted by host. */
export const environmentTallySchema = z.object({
  env: z.string(),
  app: z.string(),
  version: z.number().int(),
  /**
   * Hosts of the environment now (not removed, not revoked) that the bundle
   * targets (its role) or that took an install of it; every other count is of these.
   */
  hosts: z.number().int().nonnegative(),
  /** Hosts on which an install of the bundle succeeded. */
  installed: z.number().int().nonnegative(),
  /** Hosts whose latest install of the bundle failed (a retry that went well is no failure). */
  failed: z.number().int().nonnegative(),
  rolledBack: z.number().int().nonnegative(),
  /** Hosts that were away (offline) when a deployment wanted them and never got the bundle. */
  away: z.number().int().nonnegative(),
  /** Hosts running the bundle now, by their facts. */
  runningNow: z.number().int().nonnegative(),
});
export type EnvironmentTally = z.infer<typeof environmentTallySchema>;

export const reportSummarySchema = z.object({
  /** One line in words: `smooth: nothing blocked, 2 open actions`, `blocked: cart@12 failed in qa`. */
  headline: z.string(),
  /** Each bundle's path through the environments, with times. */
  paths: z.array(
    z.object({
      app: z.string(),
      version: z.number().int(),
      stops: z.array(pathStopSchema),
      /** From push to its first successful deployment to the last environment; null when not there yet. */
      leadTimeMs: durationMs,
    }),
  ),
  tallies: z.array(environmentTallySchema),
  /** What blocked the release, in words; empty when nothing did. */
  blockers: z.array(z.string()),
  openNotes: z.number().int().nonnegative(),
  openActions: z.number().int().nonnegative(),
  findings: z.number().int().nonnegative(),
});
export type ReportSummary = z.infer<typeof reportSummarySchema>;

/** One step of an install, as the report shows it. */
export const reportStepSchema = z.object({
  step: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  exitCode: z.number().int().nullable(),
  durationMs,
});
export type ReportStep = z.infer<typeof reportStepSchema>;

/** Where an install failed: the step, its exit code, its last lines of stderr, and how to read all of it. */
export const installFailureSchema = z.object({
  step: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  error: z.string().nullable(),
  /** The last lines of the failed step's stderr (or stdout, when stderr is empty), at most 20. */
  lastLines: z.array(z.string()),
  /** The command that prints the full log: `ferry logs <install-id>`. */
  logsCommand: z.string(),
});
export type InstallFailure = z.infer<typeof installFailureSchema>;

export const reportInstallSchema = z.object({
  id: z.string(),
  app: z.string(),
  version: z.number().int(),
  purpose: z.enum(INSTALL_PURPOSES),
  deploymentId: z.string().nullable(),
  state: z.enum(INSTALL_STATES),
  rolledBack: z.boolean(),
  fromVersion: z.number().int().nullable(),
  createdAt: at,
  startedAt: at.nullable(),
  finishedAt: at.nullable(),
  durationMs,
  steps: z.array(reportStepSchema),
  failure: installFailureSchema.nullable(),
});
export type ReportInstall = z.infer<typeof reportInstallSchema>;

export const reportDeploymentSchema = z.object({
  id: z.string(),
  app: z.string(),
  version: z.number().int(),
  kind: z.enum(DEPLOYMENT_KINDS),
  state: z.enum(DEPLOYMENT_STATES),
  createdBy: z.string(),
  createdAt: at,
  finishedAt: at.nullable(),
  error: z.string().nullable(),
  migratedOn: z.string().nullable(),
});
export type ReportDeployment = z.infer<typeof reportDeploymentSchema>;

/** One environment: its deployments of the release's bundles, and every install host by host. */
export const reportEnvironmentSchema = z.object({
  env: z.string(),
  deployments: z.array(reportDeploymentSchema),
  hosts: z.array(
    z.object({
      host: z.string(),
      /** Installs of the release's bundles on it (deploys, reverts, catch-ups, by hand), oldest first. */
      installs: z.array(reportInstallSchema),
    }),
  ),
});
export type ReportEnvironment = z.infer<typeof reportEnvironmentSchema>;

/** The kinds of finding Ferry makes by itself. */
export const FINDING_KINDS = [
  'warnings',
  'drift',
  'requirements',
  'log-hygiene',
  'slow',
  'flaky',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** One host's part of a finding: what was seen there, with the line quoted where there is one. */
export const findingEntrySchema = z.object({
  host: z.string().nullable(),
  /** What was seen, in words: `3 lines match "WARNING:" in step migrate`. */
  text: z.string(),
  /** The first line seen, quoted as it was (cut to 500 characters); null when there is no line. */
  quote: z.string().nullable(),
  /** How many times it was seen, where counting makes sense. */
  count: z.number().int().nonnegative().nullable(),
});
export type FindingEntry = z.infer<typeof findingEntrySchema>;

/**
 * A problem Ferry found in the records or the facts, with the impact it
 * suggests. `key` stays the same for the same problem from one report to the
 * next (`warnings/cart/qa/postgres`: `warnings/<app>/<env>/<pattern>`), so a person can confirm it: the
 * note made from it says so, and the report shows the finding as confirmed.
 */
export const findingSchema = z.object({
  key: z.string(),
  kind: z.enum(FINDING_KINDS),
  /** One line: `PostgreSQL warnings in cart's migrate step`. */
  title: z.string(),
  suggestedImpact: noteImpactSchema,
  env: z.string().nullable(),
  app: z.string().nullable(),
  entries: z.array(findingEntrySchema),
  /** The kind's own facts, for tools (`{pattern, step}`, `{name, values}`, `{needed, found}`). */
  data: z.record(z.string(), z.unknown()),
  /** The note a person made of it, when one did. */
  confirmedBy: z.object({ noteId: z.number().int(), impact: noteImpactSchema }).nullable(),
});
export type Finding = z.infer<typeof findingSchema>;

export const reportSchema = z.object({
  reportVersion: z.number().int(),
  subject: noteSubjectSchema,
  generatedAt: at,
  bundles: z.array(reportBundleSchema),
  summary: reportSummarySchema,
  environments: z.array(reportEnvironmentSchema),
  findings: z.array(findingSchema),
  /** The notes people added, by section in the report's order, each with its actions. */
  notes: z.array(z.object({ section: z.enum(NOTE_SECTIONS), notes: z.array(noteRecordSchema) })),
});
export type Report = z.infer<typeof reportSchema>;

/** What differs between the hosts of one environment. */
export const DRIFT_ASPECTS = ['runtime', 'os', 'kernel', 'agent', 'release', 'config'] as const;
export type DriftAspect = (typeof DRIFT_ASPECTS)[number];

/**
 * One thing that differs between hosts that should agree: a runtime's version,
 * the OS, the kernel, the agent's version, the release an app runs (against
 * the desired one), or a variable of an app's configuration among the hosts of
 * one role (a secret compared by a hash of its value, and shown as `(secret
 * #1)`, `(secret #2)`, never by value).
 */
export const driftSchema = z.object({
  env: z.string(),
  aspect: z.enum(DRIFT_ASPECTS),
  /** What differs: `node`, `os`, `REDIS_HOST`. */
  name: z.string(),
  /** The app, for a release or a variable; else null. */
  app: z.string().nullable(),
  /** The role the compared hosts share, for a runtime (compared per role) or a variable; else null. */
  role: z.string().nullable(),
  /** For a release: the desired version, as text; else null. */
  expected: z.string().nullable(),
  /** Each value seen and the hosts that have it, the most common first; null: the host has none. */
  values: z.array(z.object({ value: z.string().nullable(), hosts: z.array(z.string()) })),
});
export type Drift = z.infer<typeof driftSchema>;

/** The query of `GET /drift`. */
export const driftQuerySchema = z.strictObject({
  env: z.string().optional(),
  app: appNameSchema.optional(),
});
export type DriftQuery = z.infer<typeof driftQuerySchema>;

/** `ferry drift`: the differences found now, and how many hosts were compared. */
export const driftAnswerSchema = z.object({
  generatedAt: at,
  hostsCompared: z.number().int().nonnegative(),
  /** Hosts compared by their last facts because they are away (not connected) now. */
  away: z.array(z.string()).default([]),
  drift: z.array(driftSchema),
});
export type DriftAnswer = z.infer<typeof driftAnswerSchema>;
