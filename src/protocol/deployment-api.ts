import { z } from 'zod';
import { countTextSchema } from './fields.js';
import { INSTALL_PURPOSES, installStepSchema, stepLogSchema, verdictStateSchema } from './api.js';
import { DEPLOYMENT_STATES, INSTALL_STATES } from './lifecycle.js';

/**
 * Bodies of the lifecycle API: deployments, promotion, rollback, status and
 * history. Shared by the server (which sends them) and the CLI (which reads them).
 */

const appName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { error: 'expected an app name' });
const envName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, { error: 'expected an environment name' });

// Where a deployment stands, and where it may go next: ./lifecycle.ts.
export { DEPLOYMENT_STATES, type DeploymentState, FINAL_DEPLOYMENT_STATES } from './lifecycle.js';
/** How a deployment came about. */
export const DEPLOYMENT_KINDS = [
  'deploy',
  'promote',
  'rollback',
  'auto-deploy',
  'auto-promote',
] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

/** A rollout strategy as a deployment keeps it. */
export const strategySchema = z.object({
  batch: z.union([z.number().int(), z.string()]),
  maxFailures: z.number().int(),
  rollbackOnFailure: z.boolean(),
  offlineTimeout: z.string(),
  /** The bake after the last batch, and after each batch (absent: a deployment made before bakes existed). */
  bake: z.string().optional(),
  batchBake: z.string().optional(),
  onDegrade: z.enum(['rollback', 'pause', 'alert']).optional(),
});
export type StrategyRecord = z.infer<typeof strategySchema>;

/** One host's install within a deployment, with the step it is at. */
export const deploymentInstallSchema = z.object({
  id: z.string(),
  host: z.string(),
  hostId: z.string(),
  version: z.number().int(),
  purpose: z.enum(INSTALL_PURPOSES),
  batch: z.number().int().nullable(),
  state: z.enum(INSTALL_STATES),
  fromVersion: z.number().int().nullable(),
  rolledBack: z.boolean(),
  error: z.string().nullable(),
  /** The step running now, or the last one that ran. */
  step: installStepSchema.nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /**
   * The variables the install was sent with, frozen by its deployment (a
   * secret's value is null); null when none was recorded (not sent yet, or
   * made by an older server).
   */
  variables: z
    .array(z.object({ name: z.string(), value: z.string().nullable(), secret: z.boolean() }))
    .nullable()
    .optional(),
});
export type DeploymentInstall = z.infer<typeof deploymentInstallSchema>;

export const deploymentRecordSchema = z.object({
  id: z.string(),
  app: z.string(),
  version: z.number().int(),
  env: z.string(),
  kind: z.enum(DEPLOYMENT_KINDS),
  state: z.enum(DEPLOYMENT_STATES),
  strategy: strategySchema,
  /** The release the environment was to run before: what a failed rollout goes back to. */
  fromVersion: z.number().int().nullable(),
  /**
   * Who started it: a token's name, or for an automatic one the environment's
   * policy that did (`policy:qa/autoDeploy`, `policy:prod/autoPromote`).
   */
  createdBy: z.string(),
  /** For an automatic deployment, the token whose push or verdict set it off; else null. */
  triggeredBy: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Why it failed, or what it left undone (the offline hosts of a partial one). */
  error: z.string().nullable(),
  /**
   * Its latest bake: the batch whose hosts it watches (or watched) and until
   * when; null when none began (absent from an older server's record).
   */
  bake: z.object({ batch: z.number().int(), until: z.string() }).nullable().optional(),
  /** The host on which the bundle's migrations ran in this deployment; null when none ran. */
  migratedOn: z.string().nullable(),
  installs: z.array(deploymentInstallSchema),
});
export type DeploymentRecord = z.infer<typeof deploymentRecordSchema>;

/**
 * `--refresh-vars`: a release that already landed in the environment starts on
 * each host with the configuration it last ran with there, unless this asks for
 * today's values instead.
 */
const refreshVars = z.boolean().optional();

/** `ferry deploy cart@12 --env qa [--refresh-vars]`. */
export const deployBodySchema = z.strictObject({
  app: appName,
  version: z.int().positive(),
  env: envName,
  refreshVars,
  /**
   * Deploy an older version although migrations of later ones ran in the
   * environment since it was last there (`ferry deploy --yes`), as
   * `ferry rollback --yes`: without it, refused with `E_ROLLBACK_OVER_MIGRATIONS`.
   */
  confirmMigrations: z.boolean().optional(),
});
export type DeployBody = z.infer<typeof deployBodySchema>;

/** `ferry promote cart@12`: to the environment after the last one where it succeeded. */
export const promoteBodySchema = z.strictObject({
  app: appName,
  version: z.int().positive(),
  /**
   * Promote although migrations of later versions ran in the target environment
   * since the bundle was last there (`ferry promote --yes`), as `ferry rollback
   * --yes`: without it, refused with `E_ROLLBACK_OVER_MIGRATIONS`.
   */
  confirmMigrations: z.boolean().optional(),
});
export type PromoteBody = z.infer<typeof promoteBodySchema>;

/** `ferry rollback cart --env prod [--to 11]`. */
export const rollbackBodySchema = z.strictObject({
  app: appName,
  env: envName,
  to: z.int().positive().optional(),
  refreshVars,
  /**
   * Go back although migrations ran in the environment since that version
   * (`ferry rollback --yes`): without it, such a rollback is refused with
   * `E_ROLLBACK_OVER_MIGRATIONS`. Going back never undoes a migration.
   */
  confirmMigrations: z.boolean().optional(),
});
export type RollbackBody = z.infer<typeof rollbackBodySchema>;

/** `GET /deployments?app=&env=&limit=`. */
export const deploymentListQuerySchema = z.strictObject({
  app: appName.optional(),
  env: envName.optional(),
  limit: countTextSchema(1, 1000).optional(),
});
export type DeploymentListQuery = z.infer<typeof deploymentListQuerySchema>;

/** The logs of a deployment: each install's steps, host by host. */
export const deploymentLogsSchema = z.object({
  deploymentId: z.string(),
  installs: z.array(
    z.object({
      installId: z.string(),
      host: z.string(),
      version: z.number().int(),
      purpose: z.enum(INSTALL_PURPOSES),
      state: z.enum(INSTALL_STATES),
      steps: z.array(stepLogSchema),
    }),
  ),
});
export type DeploymentLogs = z.infer<typeof deploymentLogsSchema>;

/** One host of an environment as `ferry status` shows it. */
export const hostStatusSchema = z.object({
  host: z.string(),
  connected: z.boolean(),
  /** The release its agent last reported as current. */
  version: z.number().int().nullable(),
  /** `ok`, `failing` (its last health probe failed), `offline`, or `unknown`. */
  health: z.enum(['ok', 'failing', 'offline', 'unknown']),
  /** The newest install of this app on the host. */
  lastInstall: z
    .object({ id: z.string(), version: z.number().int(), state: z.enum(INSTALL_STATES) })
    .nullable(),
  /**
   * Variables whose value today differs from the one the running release was
   * started with (or that are no longer set): a deployment made now would run
   * with other values. Empty when none; absent when the server cannot tell.
   */
  changedVariables: z.array(z.string()).optional(),
  /**
   * For a host ahead of the desired release: the versions whose migrations ran
   * in the environment and that going back would cross. Catch-up leaves it
   * ahead (nobody is there to say yes); a deployment moves it. Absent when none.
   */
  aheadOverMigrations: z.array(z.number().int()).optional(),
  /**
   * Continuous health: the service's state as its agent last reported it
   * (`health.every` in the manifest), since when (the agent's clock), the failing
   * probe's answer, and the restarts by the process driver in the last hour.
   * Null when the agent reported none (no running release, or an older agent).
   */
  service: z
    .object({
      state: z.enum(['healthy', 'failing', 'stopped']),
      version: z.number().int().nullable(),
      since: z.string(),
      answer: z.string().nullable(),
      restarts: z.number().int(),
      /** When the server recorded the report. */
      at: z.string(),
    })
    .nullable()
    .optional(),
});
export type HostStatus = z.infer<typeof hostStatusSchema>;

export const environmentStatusSchema = z.object({
  env: z.string(),
  /** The release the hosts here should run; null until something was deployed. */
  desired: z
    .object({
      version: z.number().int(),
      deploymentId: z.string(),
      since: z.string(),
      verdict: verdictStateSchema,
    })
    .nullable(),
  /** A deployment in progress here, if any. */
  active: z
    .object({ id: z.string(), version: z.number().int(), state: z.enum(DEPLOYMENT_STATES) })
    .nullable(),
  hosts: z.array(hostStatusSchema),
});
export type EnvironmentStatus = z.infer<typeof environmentStatusSchema>;

export const appStatusSchema = z.object({
  app: z.string(),
  latestVersion: z.number().int(),
  environments: z.array(environmentStatusSchema),
});
export type AppStatus = z.infer<typeof appStatusSchema>;

/**
 * What a line of history tells: a push, a deployment or rollback, a verdict
 * change, an install by hand or a catch-up, a cancel; and, in the history of
 * every app (`ferry history` without an app), a variable change, a host
 * enrolled or removed, a token made or revoked; a note added or edited, an
 * action added or done (in its app's history too when the note is on a bundle).
 */
export const HISTORY_TYPES = [
  'push',
  'deployment',
  'rollback',
  'verdict',
  'install',
  'catch-up',
  'cancel',
  'variable',
  'host',
  'token',
  'note',
  'action',
  'report',
] as const;

/** One line of history. */
export const historyEntrySchema = z.object({
  at: z.string(),
  by: z.string(),
  type: z.enum(HISTORY_TYPES),
  /** The app it is about; null for a variable, host or token. */
  app: z.string().nullable(),
  /** The bundle's version; null when it is about no bundle. */
  version: z.number().int().nullable(),
  env: z.string().nullable(),
  /** A deployment's kind and state, a verdict, or what changed (never a secret's value). */
  detail: z.string(),
  note: z.string().nullable(),
  deploymentId: z.string().nullable(),
  /** For an automatic deployment (`by` is its policy), the token whose push or verdict set it off. */
  triggeredBy: z.string().nullable(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** What an agent asks before it starts a job it has not seen: does the server still want it? */
export const installWantedSchema = z.object({
  proceed: z.boolean(),
  reason: z.string().nullable(),
});
export type InstallWanted = z.infer<typeof installWantedSchema>;
