import { z } from 'zod';
import { roleSchema } from './api.js';
import { countTextSchema } from './fields.js';

/**
 * The audit log on the wire: one entry per request that changes something
 * (every route but GET), refusals included. See docs/security.md (Audit log).
 *
 * @example
 *   const { entries } = auditAnswerSchema.parse(await response.json());
 *   entries.filter((e) => e.outcome !== 'ok');
 */

/**
 * What an entry may name of what a write acted on, in the order it is shown:
 * a bundle (`app`, `version`) or a `label`, an environment, a host role (a
 * variable's scope, the role a token is made with), a host, a `name` (a
 * variable's, a token's), the `id` of the record acted on or made (a
 * deployment, a token, a note), and a `verdict` given.
 */
export const AUDIT_TARGET_PARTS = [
  'app',
  'version',
  'label',
  'env',
  'role',
  'host',
  'name',
  'id',
  'verdict',
] as const;
export type AuditTargetPart = (typeof AUDIT_TARGET_PARTS)[number];

/** What a write acted on: only the parts it has. */
export const auditTargetSchema = z.partialRecord(
  z.enum(AUDIT_TARGET_PARTS),
  z.union([z.string(), z.number()]),
);
export type AuditTarget = z.infer<typeof auditTargetSchema>;

/**
 * Who made a request: the token that authenticated it (a dashboard session
 * speaks as its token: `via: 'session'`). Null when no token counted: none
 * was sent, or it was unknown or revoked (a refusal).
 */
export const auditWhoSchema = z.object({
  tokenId: z.string(),
  name: z.string(),
  role: roleSchema,
  via: z.enum(['token', 'session']),
});
export type AuditWho = z.infer<typeof auditWhoSchema>;

/** The outcome of a write that was answered: `ok`, or the error code it was refused with. */
export const AUDIT_OK = 'ok';

/** One request that changed something, or tried to. */
export const auditEntrySchema = z.object({
  /** Increasing, in the order the entries were recorded. */
  id: z.number().int(),
  /** When the server answered (ISO 8601, UTC). */
  at: z.string(),
  who: auditWhoSchema.nullable(),
  /** The address the request came from: the TCP peer (see docs/security.md). */
  from: z.string(),
  /** The route's name (`deploy`, `createToken`): docs/api.md lists them. */
  action: z.string(),
  method: z.string(),
  /** The route's declared path, with its `:params` (`/deployments/:id/cancel`). */
  path: z.string(),
  target: auditTargetSchema,
  /** The HTTP status of the answer. */
  status: z.number().int(),
  /** `ok`, or the error code of the answer (`E_FORBIDDEN`, `E_BAD_REQUEST`, …). */
  outcome: z.string(),
  /**
   * How many requests the entry stands for: 1, but for refusals without a
   * valid credential, coalesced to one entry per address, action and outcome
   * a minute (the newest of them, with their count).
   */
  count: z.number().int().min(1),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})([T ](\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/;

/**
 * An ISO 8601 time (`2026-12-01`, `2026-12-01T08:00:00Z`), as UTC with
 * milliseconds; one that names no zone is in UTC. A day, hour or zone that
 * does not exist (`2026-02-30`, `T24:00`, `+25:00`) is refused, not rolled
 * over to another.
 */
const isoTimeSchema = z
  .string()
  .max(40)
  .regex(ISO_TIME, { error: 'expected an ISO 8601 time such as 2026-12-01T08:00:00Z' })
  .refine(isRealTime, { error: 'expected a real date and time' })
  .transform(utcTime)
  .refine((text) => !Number.isNaN(Date.parse(text)), { error: 'expected a real date and time' })
  .transform((text) => new Date(text).toISOString());

/** Whether each field of an ISO time is in its range: a day its month has, an hour below 24. */
function isRealTime(text: string): boolean {
  const [, year, month, day, , hour, minute, , second, , , zoneHour, zoneMinute] = (
    ISO_TIME.exec(text) ?? []
  ).map((field) => (field === undefined ? 0 : Number(field)));
  if (year === undefined || month === undefined || day === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    (hour ?? 0) <= 23 &&
    (minute ?? 0) <= 59 &&
    (second ?? 0) <= 59 &&
    (zoneHour ?? 0) <= 23 &&
    (zoneMinute ?? 0) <= 59
  );
}

/** An ISO time with a `T`, and in UTC when it names no zone (not this machine's local time). */
function utcTime(text: string): string {
  const time = text.replace(' ', 'T');
  return time.includes('T') && !/(Z|[+-]\d{2}:?\d{2})$/.test(time) ? `${time}Z` : time;
}

/** `GET /audit?since=&who=&limit=`. */
export const auditQuerySchema = z.strictObject({
  /** Only entries at or after this time. */
  since: isoTimeSchema.optional(),
  /** Only entries of this token: its name or its id. */
  who: z.string().min(1).max(100).optional(),
  /** The newest this many of those (default 200). */
  limit: countTextSchema(1, 10_000).optional(),
});
export type AuditQuery = z.input<typeof auditQuerySchema>;

/**
 * The entries asked for, oldest first: the newest is last, as in a log.
 * `more`: older entries matched too, beyond the `limit` answered.
 */
export const auditAnswerSchema = z.object({
  entries: z.array(auditEntrySchema),
  more: z.boolean(),
});
export type AuditAnswer = z.infer<typeof auditAnswerSchema>;

/** How many entries `GET /audit` answers unless asked for another number. */
export const DEFAULT_AUDIT_LIMIT = 200;

/**
 * A target in words, parts in their order: `hello@3 env=prod id=dep_1a2b`.
 *
 * @example
 *   auditTargetText({ app: 'hello', version: 3, env: 'prod' }); // 'hello@3 env=prod'
 */
export function auditTargetText(target: AuditTarget): string {
  const words: string[] = [];
  if (target.app !== undefined) {
    words.push(
      target.version === undefined ? String(target.app) : `${target.app}@${target.version}`,
    );
  } else if (target.version !== undefined) {
    words.push(`version=${target.version}`);
  }
  for (const part of AUDIT_TARGET_PARTS) {
    const value = target[part];
    if (part === 'app' || part === 'version' || value === undefined) continue;
    words.push(part === 'name' ? String(value) : `${part}=${value}`);
  }
  return words.join(' ');
}
