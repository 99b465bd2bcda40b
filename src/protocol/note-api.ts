import { z } from 'zod';
import { appNameSchema } from '../bundle/manifest-schema.js';
import { CONTROL_CHARACTERS, FIELD_LIMITS, labelSchema, printableSchema } from './fields.js';

/**
 * Notes people attach to a release and the actions they give owners: the
 * bodies and answers of the note routes, shared by the server and the client.
 * A note is on one bundle (`cart@12`) or on a label (`0.4.0`, every bundle
 * pushed with it); it sits in a section of the release report and has an
 * impact. An action is a thing one person must do about a note.
 *
 * @example
 *   const body = noteAddBodySchema.parse({ on: { kind: 'label', label: '0.4.0' },
 *     section: 'deployment', impact: 'minor', text: 'stdout and stderr share one log file' });
 */

/** The sections of a release report a note goes in, in the report's order. */
export const NOTE_SECTIONS = ['deployment', 'patch', 'testing', 'misc'] as const;
export type NoteSection = (typeof NOTE_SECTIONS)[number];

/** How much a note matters, from nothing to blocking the release. */
export const NOTE_IMPACTS = ['nil', 'minor', 'major', 'blocker'] as const;
export type NoteImpact = (typeof NOTE_IMPACTS)[number];

/** Bounds on what people write in notes and actions. */
export const NOTE_LIMITS = {
  /** A note's or an action's text: a paragraph or a few, not a log file. */
  text: 4000,
  /** An action's owner: a person's name. */
  owner: 100,
} as const;

export const noteSectionSchema = z.enum(NOTE_SECTIONS, {
  error: `expected a section: ${NOTE_SECTIONS.join(', ')}`,
});
export const noteImpactSchema = z.enum(NOTE_IMPACTS, {
  error: `expected an impact: ${NOTE_IMPACTS.join(', ')}`,
});

/** Text of a note or action: lines and tabs allowed, no other control character. */
export const noteTextSchema = z
  .string()
  .min(1, { error: 'expected some text' })
  .max(NOTE_LIMITS.text, { error: `expected a text of at most ${NOTE_LIMITS.text} characters` })
  .refine((text) => !CONTROL_CHARACTERS.test(text.replace(/[\n\t]/g, '')), {
    error: 'expected a text without control characters (escape sequences); lines and tabs are fine',
  });

/** Who must do an action: a person's name, as the team writes it. */
export const actionOwnerSchema = printableSchema(NOTE_LIMITS.owner, 'owner');

/** One bundle, by app and version. */
export const bundleKeySchema = z.strictObject({
  app: appNameSchema,
  version: z.int().positive().max(FIELD_LIMITS.version),
});
export type BundleKey = z.infer<typeof bundleKeySchema>;

/** What a note is on: one bundle, or a label (every bundle pushed with it, across apps). */
export const noteSubjectSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('bundle'),
    app: appNameSchema,
    version: z.int().positive().max(FIELD_LIMITS.version),
  }),
  z.strictObject({ kind: z.literal('label'), label: labelSchema }),
]);
export type NoteSubject = z.infer<typeof noteSubjectSchema>;

/** A note's or an action's id as text (a path parameter, a CLI argument): plain digits. */
export const recordIdTextSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/, { error: 'expected an id: plain digits, such as 12' })
  .transform(Number);

/**
 * The key of a finding Ferry made in a release report (`warnings/cart/qa/postgres`,
 * `drift/prod/runtime/web/node`): a note made from a finding names it, and the
 * report shows that finding as confirmed by the note.
 */
export const findingKeySchema = z
  .string()
  .max(300, { error: 'expected a finding key of at most 300 characters' })
  .regex(/^[a-z][a-z-]*(?:\/[A-Za-z0-9._@-]+)+$/, {
    error: 'expected a finding key as the report shows it, such as warnings/cart/qa/postgres',
  });

export const actionRecordSchema = z.object({
  id: z.number().int(),
  noteId: z.number().int(),
  owner: z.string(),
  text: z.string(),
  done: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
  doneAt: z.string().nullable(),
  doneBy: z.string().nullable(),
});
export type ActionRecord = z.infer<typeof actionRecordSchema>;

export const noteRecordSchema = z.object({
  id: z.number().int(),
  on: noteSubjectSchema,
  section: noteSectionSchema,
  impact: noteImpactSchema,
  text: z.string(),
  /** The bundle that fixed what the note tells (a patch), or null. */
  fixedBy: bundleKeySchema.nullable(),
  /** The key of the report's finding the note confirms (or changes the impact of), or null. */
  finding: z.string().nullable().default(null),
  createdAt: z.string(),
  createdBy: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
  /** Its actions, in the order they were added. */
  actions: z.array(actionRecordSchema),
});
export type NoteRecord = z.infer<typeof noteRecordSchema>;

/** An action as `ferry actions` lists it: with what its note is about. */
export const actionListItemSchema = actionRecordSchema.extend({
  note: z.object({
    on: noteSubjectSchema,
    section: noteSectionSchema,
    impact: noteImpactSchema,
    text: z.string(),
  }),
});
export type ActionListItem = z.infer<typeof actionListItemSchema>;

/** `ferry note add`. */
export const noteAddBodySchema = z
  .strictObject({
    on: noteSubjectSchema,
    section: noteSectionSchema,
    impact: noteImpactSchema,
    /** Needed, but for a note of a finding: that one takes the finding's title when it has none. */
    text: noteTextSchema.optional(),
    fixedBy: bundleKeySchema.optional(),
    /**
     * The finding of the subject's release report this note confirms, with the
     * impact people give it; `E_FINDING_NOT_FOUND` when the report has none by that key.
     */
    finding: findingKeySchema.optional(),
  })
  .refine((body) => body.text !== undefined || body.finding !== undefined, {
    error: "expected some text (a note of a finding takes the finding's title)",
    path: ['text'],
  });
export type NoteAddBody = z.infer<typeof noteAddBodySchema>;

/** `ferry note edit`: what changes; `fixedBy: null` removes the bundle that fixed it. */
export const noteEditBodySchema = z
  .strictObject({
    section: noteSectionSchema.optional(),
    impact: noteImpactSchema.optional(),
    text: noteTextSchema.optional(),
    fixedBy: bundleKeySchema.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((v) => v !== undefined), {
    error: 'expected something to change: section, impact, text or fixedBy',
  });
export type NoteEditBody = z.infer<typeof noteEditBodySchema>;

/** `ferry action add`. */
export const actionAddBodySchema = z.strictObject({
  owner: actionOwnerSchema,
  text: noteTextSchema,
});
export type ActionAddBody = z.infer<typeof actionAddBodySchema>;

/** `ferry action done`: the action, and false when it was done already (and stays as it was). */
export const actionDoneResultSchema = z.object({
  action: actionRecordSchema,
  changed: z.boolean(),
});
export type ActionDoneResult = z.infer<typeof actionDoneResultSchema>;

/**
 * The query of `GET /notes`: the notes of one bundle (`app` and `version`), of
 * every bundle of an app (`app`), of a label (on the label itself and on each
 * bundle that carries it), or all of them.
 */
export const notesQuerySchema = z
  .strictObject({
    app: appNameSchema.optional(),
    version: z
      .string()
      .regex(/^[1-9][0-9]{0,15}$/, { error: 'expected a version number: plain digits' })
      .transform(Number)
      .optional(),
    label: labelSchema.optional(),
  })
  .refine((q) => q.version === undefined || q.app !== undefined, {
    error: 'a version needs its app',
    path: ['version'],
  })
  .refine((q) => q.label === undefined || q.app === undefined, {
    error: 'ask for the notes of a bundle or of a label, not both',
    path: ['label'],
  });
export type NotesQuery = z.infer<typeof notesQuerySchema>;

/** The query of `GET /actions`: those of one owner, and only the open ones. */
export const actionsQuerySchema = z.strictObject({
  owner: actionOwnerSchema.optional(),
  open: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((v) => v === 'true')
    .optional(),
});
export type ActionsQuery = z.infer<typeof actionsQuerySchema>;

/** `cart@12`, or `label 0.4.0`: what a note is on, in words. */
export function describeSubject(on: NoteSubject): string {
  return on.kind === 'bundle' ? `${on.app}@${on.version}` : `label ${on.label}`;
}
