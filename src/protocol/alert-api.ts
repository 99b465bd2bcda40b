import { z } from 'zod';
import { countTextSchema } from './fields.js';

/**
 * Alerts on the wire: conditions Ferry watches for (a service failing its
 * health check, a full disk, a host away), each with its subject, when it
 * started and when it cleared. See docs/alerts.md.
 *
 * @example
 *   const { alerts } = alertsAnswerSchema.parse(await response.json());
 *   alerts.filter((a) => a.clearedAt === null);
 */

export const ALERT_KINDS = [
  'service-failing',
  'service-restarting',
  'disk-full',
  'memory-full',
  'host-away',
  'deployment-degraded',
] as const;

/** One alert: what it is about, what it said, when it started and cleared. */
export const alertRecordSchema = z.object({
  id: z.number().int(),
  kind: z.enum(ALERT_KINDS),
  env: z.string().nullable(),
  app: z.string().nullable(),
  /** The host's name as it was when raised; null for an alert of no one host. */
  host: z.string().nullable(),
  hostId: z.string().nullable(),
  /** The release it is about (with `app`); null when none. */
  version: z.number().int().nullable(),
  deploymentId: z.string().nullable(),
  message: z.string(),
  startedAt: z.string(),
  /** Null while the alert is open. */
  clearedAt: z.string().nullable(),
  /** What ended it, in words; null while open. */
  clearedBecause: z.string().nullable(),
});
export type AlertRecord = z.infer<typeof alertRecordSchema>;

const plainName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { error: 'expected a plain name' });

/** `GET /alerts?open=true&env=&app=&host=&limit=`. */
export const alertsQuerySchema = z.strictObject({
  /** `true`: only open alerts; `false`: only cleared ones; absent: both. */
  open: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((v) => v === 'true')
    .optional(),
  env: plainName.optional(),
  app: plainName.optional(),
  /** A host's name. */
  host: z.string().min(1).max(100).optional(),
  /** The newest this many (default 200). */
  limit: countTextSchema(1, 1000).optional(),
});
export type AlertsQuery = z.input<typeof alertsQuerySchema>;

/** The alerts asked for, newest first. */
export const alertsAnswerSchema = z.object({ alerts: z.array(alertRecordSchema) });
export type AlertsAnswer = z.infer<typeof alertsAnswerSchema>;

/** How many alerts `GET /alerts` answers unless asked for another number. */
export const DEFAULT_ALERTS_LIMIT = 200;

/**
 * What an alert is about, in words: `cart@12 on prod-3`, `prod-3`, `cart`.
 *
 * @example
 *   alertSubjectText({ app: 'cart', version: 12, host: 'prod-3' }); // 'cart@12 on prod-3'
 */
export function alertSubjectText(alert: Pick<AlertRecord, 'app' | 'version' | 'host'>): string {
  const release =
    alert.app === null
      ? null
      : alert.version === null
        ? alert.app
        : `${alert.app}@${alert.version}`;
  if (release !== null && alert.host !== null) return `${release} on ${alert.host}`;
  return release ?? alert.host ?? '-';
}
