import { z } from 'zod';

/**
 * The messages between the server and its agents, whatever carries them (the
 * built-in WebSocket transport or RabbitMQ). Every message has a unique `id`
 * and a protocol version `v`; handlers are idempotent on `id`, because delivery
 * is at least once. A message that does not parse is refused and logged, never
 * allowed to crash a process.
 */

export const PROTOCOL_VERSION = 1;

const envelope = {
  v: z.literal(PROTOCOL_VERSION),
  /** Unique per message; a repeated delivery carries the same id. */
  id: z.string().min(1).max(100),
};

/** Server → agent: bring one bundle in, as one install of a deployment. */
export const installJobSchema = z.strictObject({
  ...envelope,
  type: z.literal('install'),
  installId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  // The app's name becomes a folder on the host: only plain names pass.
  app: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  version: z.int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.int().nonnegative(),
  /** The bundle's label and commit: with the fields above, what the server's signature covers. */
  label: z.string().max(1024).nullable().optional(),
  commit: z.string().max(1024).nullable().optional(),
  /**
   * The server's ed25519 signature over the bundle (see `serverStatement`): the
   * agent refuses to unpack a bundle it does not verify with the server's key.
   */
  signature: z
    .strictObject({
      keyId: z.string().max(100),
      value: z.string().max(100),
    })
    .optional(),
  /** The app's resolved manifest section, as the bundle carries it. */
  manifest: z.record(z.string(), z.unknown()),
  /** Variables for `${NAME}` in the manifest, already scoped to this host. */
  vars: z.record(z.string(), z.string()).default({}),
  /** Names in `vars` whose values are secret: the agent masks them in everything it reports. */
  secrets: z.array(z.string()).optional(),
  /** The deployment this install belongs to, for the agent's log; absent for `ferry install`. */
  deploymentId: z.string().max(100).optional(),
  /**
   * Run the manifest's `migrate` commands in the new release, before the switch:
   * set on one install per deployment (the first host of its first batch), never on a rollback.
   */
  migrate: z.boolean().optional(),
});

/** Every job the server can send; grows with later features. */
export const jobSchema = z.discriminatedUnion('type', [installJobSchema]);
export type Job = z.infer<typeof jobSchema>;
export type InstallJob = z.infer<typeof installJobSchema>;

const stepName = z.string().min(1).max(40);

/**
 * Agent → server: what the agent runs and what the host looks like. The facts
 * travel as a record; the server reads them with the facts schema
 * (`parseHostFacts` in ./host-facts.ts), which knows every version of them.
 */
export const factsEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('facts'),
  facts: z.record(z.string(), z.unknown()),
});

export const stepStartedEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('step.started'),
  jobId: z.string(),
  step: stepName,
  at: z.string(),
});

/** A piece of a step's output; `seq` orders the pieces of one step and stream. */
export const stepOutputEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('step.output'),
  jobId: z.string(),
  step: stepName,
  stream: z.enum(['stdout', 'stderr']),
  seq: z.int().nonnegative(),
  text: z.string().max(256 * 1024),
});

export const stepFinishedEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('step.finished'),
  jobId: z.string(),
  step: stepName,
  ok: z.boolean(),
  exitCode: z.int().nullable(),
  durationMs: z.int().nonnegative(),
  error: z.string().nullable(),
});

export const jobFinishedEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('job.finished'),
  jobId: z.string(),
  ok: z.boolean(),
  /** A failed install that went back to the previous release. */
  rolledBack: z.boolean(),
  error: z.string().nullable(),
  /** The job was not run: the server said it no longer wanted it. */
  declined: z.boolean().optional(),
});

/**
 * Agent → server: a running service's health changed (continuous health,
 * `health.every` in the manifest), or its restart count did. Sent on a change
 * only, and again after a reconnect so the server knows the present state.
 */
export const healthEventSchema = z.strictObject({
  ...envelope,
  type: z.literal('health'),
  app: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  /** The release that runs; null when the agent does not know it (no `current`). */
  version: z.int().positive().nullable(),
  /** `healthy`: its check passes; `failing`: it does not; `stopped`: the service is not running. */
  state: z.enum(['healthy', 'failing', 'stopped']),
  /** When the service entered this state (ISO 8601). */
  since: z.string().max(40),
  /** The failing probe's answer (status and body's start, or the error), bounded; null when healthy. */
  answer: z.string().max(2000).nullable(),
  /** Restarts by the process driver in the last hour. */
  restarts: z.int().nonnegative(),
  at: z.string().max(40),
});

/** Every event an agent can send. */
export const agentEventSchema = z.discriminatedUnion('type', [
  factsEventSchema,
  healthEventSchema,
  stepStartedEventSchema,
  stepOutputEventSchema,
  stepFinishedEventSchema,
  jobFinishedEventSchema,
]);
export type AgentEvent = z.infer<typeof agentEventSchema>;

/** Distributes over a union, so that `Omit` keeps each member's own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event before it is given its envelope (`v`, `id`). */
export type AgentEventBody = DistributiveOmit<AgentEvent, 'v' | 'id'>;
