import { z } from 'zod';
import { durationBetween, durationSchema } from '../bundle/manifest-schema.js';

/** The longest bake: a week (168h), well inside what a timer can wait. */
const bakeSchema = durationBetween(0, 168 * 3_600_000, '0s and 168h (a week)');

/** How a deployment rolls out over an environment's hosts. */
export const rolloutStrategySchema = z.strictObject({
  /** Hosts per batch: a count (`2`) or a share of the hosts (`"25%"`). */
  batch: z
    .union([
      z.int().positive(),
      z
        .string()
        .regex(/^([1-9][0-9]?|100)%$/, { error: 'expected a count or a percentage such as "25%"' }),
    ])
    .default(1),
  /** Failed hosts tolerated before the rollout stops. */
  maxFailures: z.int().nonnegative().default(0),
  /** When it stops, put the hosts already done back on the previous release. */
  rollbackOnFailure: z.boolean().default(true),
  /**
   * How long a host that is offline may hold up its batch before the rollout goes
   * on without it (the deployment then ends `partial`, and the host catches up
   * when it returns).
   */
  offlineTimeout: durationSchema.default('60s'),
  /**
   * How long the rollout watches the hosts' health after its last batch
   * (`baking`) before it ends; `0s`: it ends at once. See `onDegrade`.
   */
  bake: bakeSchema.default('0s'),
  /**
   * How long it watches after each batch before the next one goes (the last
   * batch bakes for the longer of this and `bake`); `0s`: the next goes at once.
   */
  batchBake: bakeSchema.default('0s'),
  /**
   * What happens when more than `maxFailures` hosts turn unhealthy during a
   * bake (their service fails or stops, or restarts repeatedly): `rollback`
   * puts the hosts done back on the previous release, `pause` waits for a
   * person (`ferry deployments resume|rollback`), `alert` only raises the
   * `deployment-degraded` alert (raised in every case) and the rollout goes on.
   */
  onDegrade: z.enum(['rollback', 'pause', 'alert']).default('rollback'),
});

/** One environment of the lifecycle, as the server's configuration gives it. */
export const environmentSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { error: 'expected a plain name such as qa' }),
  /** Deploy every new bundle of an app here as soon as it is pushed. */
  autoDeploy: z.boolean().default(false),
  /** The verdict a bundle needs to enter. */
  requires: z.enum(['passed']).nullable().default(null),
  /** Deploy here as soon as a bundle is marked passed. */
  autoPromote: z.boolean().default(false),
  /**
   * Only admins deploy, roll back and set variables here (deployers elsewhere).
   * Unset: true for an environment named prod, false for the others.
   */
  protected: z.boolean().optional(),
  /**
   * Names of `developerKeys`: a bundle enters only when one of them signed it
   * (`ferry push --sign`). Empty: any bundle may enter.
   */
  requireSignedBy: z.array(z.string().min(1)).default([]),
  strategy: rolloutStrategySchema.prefault({}),
});

export type EnvironmentConfig = z.output<typeof environmentSchema>;

/** Whether only admins may deploy to and roll back an environment, and set its variables. */
export function isProtected(env: EnvironmentConfig): boolean {
  return env.protected ?? env.name === 'prod';
}

/** The lifecycle a server has unless its configuration says otherwise. */
export const DEFAULT_ENVIRONMENTS: z.input<typeof environmentSchema>[] = [
  { name: 'dev' },
  { name: 'qa', autoDeploy: true },
  {
    name: 'prod',
    requires: 'passed',
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true },
  },
];

/** The ordered environments: at least one, names unique. */
export const environmentsSchema = z
  .array(environmentSchema)
  .min(1, { error: 'expected at least one environment' })
  .superRefine((environments, ctx) => {
    const seen = new Set<string>();
    environments.forEach((env, index) => {
      if (seen.has(env.name))
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `${env.name} is listed twice`,
        });
      seen.add(env.name);
    });
  })
  .prefault(DEFAULT_ENVIRONMENTS);
