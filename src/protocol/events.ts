import { z } from 'zod';

/**
 * The live event stream: every change the server records, in the order it was
 * recorded, numbered by one sequence shared by every replica (the store's). A
 * client resumes after the last id it saw (`Last-Event-ID`) and misses nothing
 * that is still kept (see `eventsRetention`).
 *
 * @example
 *   const event = ferryEventSchema.parse(JSON.parse(data));
 *   if (event.kind === 'install.step') console.log(event.data.step, event.data.state);
 */

const deploymentData = z.object({
  version: z.number().int(),
  kind: z.string(),
  state: z.string(),
  phase: z.string(),
  error: z.string().nullable(),
  by: z.string(),
  /** While it bakes (or paused during a bake): when that bake ends; null or absent otherwise. */
  bakeUntil: z.string().nullable().optional(),
});

const installData = z.object({
  installId: z.string(),
  host: z.string(),
  version: z.number().int(),
  purpose: z.string(),
  batch: z.number().int().nullable(),
  fromVersion: z.number().int().nullable(),
  state: z.string(),
  rolledBack: z.boolean(),
  error: z.string().nullable(),
});

const stepData = z.object({
  installId: z.string(),
  host: z.string(),
  version: z.number().int(),
  step: z.string(),
  /** `running` when the step started; its outcome when it ended. */
  state: z.string(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
});

const verdictData = z.object({
  version: z.number().int(),
  verdict: z.string(),
  previous: z.string(),
  by: z.string(),
  note: z.string().nullable(),
});

const hostData = z.object({ host: z.string() });

const bundleData = z.object({
  version: z.number().int(),
  sha256: z.string(),
  label: z.string().nullable(),
  by: z.string(),
});

const noteData = z.object({
  noteId: z.number().int(),
  /** What happened to the note: made, changed, an action added to it, an action of it done. */
  change: z.enum(['added', 'edited', 'action-added', 'action-done']),
  /** The action added or done; null for the note itself. */
  actionId: z.number().int().nullable(),
  /** The bundle's version for a note on a bundle (its app is the event's); null on a label. */
  version: z.number().int().nullable(),
  /** The label for a note on a label; null on a bundle. */
  label: z.string().nullable(),
  by: z.string(),
});

/** A service's health on a host changed (continuous health). */
const healthData = z.object({
  host: z.string(),
  version: z.number().int().nullable(),
  state: z.enum(['healthy', 'failing', 'stopped']),
  /** The state before this report; null for a service first seen. */
  previous: z.enum(['healthy', 'failing', 'stopped']).nullable(),
  since: z.string(),
  answer: z.string().nullable(),
  restarts: z.number().int(),
});

/** An alert was raised or cleared. Its subject is also in the event's app, env and hostId. */
const alertData = z.object({
  alertId: z.number().int(),
  /** What raised it: `service-failing`, `service-restarting`, `disk-full`, `memory-full`, `host-away`, `deployment-degraded`. */
  alertKind: z.string(),
  host: z.string().nullable(),
  version: z.number().int().nullable(),
  message: z.string(),
  startedAt: z.string(),
  clearedAt: z.string().nullable(),
});

/** Each kind of event and the shape of what it says. */
export const EVENT_DATA = {
  'deployment.created': deploymentData,
  'deployment.state': deploymentData,
  'install.state': installData,
  'install.step': stepData,
  'verdict.changed': verdictData,
  'host.connected': hostData,
  'host.disconnected': hostData,
  'host.facts': hostData,
  'bundle.pushed': bundleData,
  'note.changed': noteData,
  'host.health': healthData,
  'alert.raised': alertData,
  'alert.cleared': alertData,
} as const;

export type EventKind = keyof typeof EVENT_DATA;
export const EVENT_KINDS = Object.keys(EVENT_DATA) as EventKind[];

/** What an event is about, for filtering: each is null when it does not apply. */
const subject = {
  at: z.string(),
  app: z.string().nullable(),
  env: z.string().nullable(),
  deploymentId: z.string().nullable(),
  hostId: z.string().nullable(),
};

function kindSchema<K extends EventKind>(kind: K) {
  return z.object({ id: z.string(), kind: z.literal(kind), ...subject, data: EVENT_DATA[kind] });
}

export const ferryEventSchema = z.discriminatedUnion('kind', [
  kindSchema('deployment.created'),
  kindSchema('deployment.state'),
  kindSchema('install.state'),
  kindSchema('install.step'),
  kindSchema('verdict.changed'),
  kindSchema('host.connected'),
  kindSchema('host.disconnected'),
  kindSchema('host.facts'),
  kindSchema('bundle.pushed'),
  kindSchema('note.changed'),
  kindSchema('host.health'),
  kindSchema('alert.raised'),
  kindSchema('alert.cleared'),
]);
export type FerryEvent = z.infer<typeof ferryEventSchema>;

/** An event before the store numbers it. */
export type NewFerryEvent = FerryEvent extends infer E
  ? E extends FerryEvent
    ? Omit<E, 'id' | 'at'> & { at?: string }
    : never
  : never;

/** Which events a client wants; an absent field matches every event. */
export const eventFilterSchema = z.object({
  app: z.string().optional(),
  env: z.string().optional(),
  deploymentId: z.string().optional(),
  hostId: z.string().optional(),
  kinds: z.array(z.enum(EVENT_KINDS as [EventKind, ...EventKind[]])).optional(),
});
export type EventFilter = z.infer<typeof eventFilterSchema>;

/** True when an event is one a filter asks for. */
export function matchesFilter(event: FerryEvent, filter: EventFilter): boolean {
  return (
    (filter.app === undefined || event.app === filter.app) &&
    (filter.env === undefined || event.env === filter.env) &&
    (filter.deploymentId === undefined || event.deploymentId === filter.deploymentId) &&
    (filter.hostId === undefined || event.hostId === filter.hostId) &&
    (filter.kinds === undefined || filter.kinds.includes(event.kind))
  );
}

/**
 * Sent once, first, when a client asked to resume after an event that is no
 * longer kept: what it missed cannot all be sent.
 */
export const STREAM_GAP_EVENT = 'stream.gap';

/** An event id as a client sends it back (`Last-Event-ID`, `?after=`). */
export const eventIdTextSchema = z
  .string()
  .regex(/^\d{1,15}$/, { error: 'expected an event id (digits)' });

/** The query of `GET /api/v1/events`. */
export const eventsQuerySchema = z.strictObject({
  app: z.string().max(100).optional(),
  env: z.string().max(100).optional(),
  deployment: z.string().max(100).optional(),
  /** A host's name or id. */
  host: z.string().max(100).optional(),
  /** Kinds, comma-separated. */
  kinds: z
    .string()
    .max(1000)
    .transform((text) => text.split(',').filter(Boolean))
    .pipe(z.array(z.enum(EVENT_KINDS as [EventKind, ...EventKind[]])))
    .optional(),
  /** Where to resume, for a client that cannot set `Last-Event-ID` (an EventSource's first connect). */
  after: eventIdTextSchema.optional(),
});
