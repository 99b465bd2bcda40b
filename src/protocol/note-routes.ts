import { z } from 'zod';
import {
  actionAddBodySchema,
  actionDoneResultSchema,
  actionListItemSchema,
  actionRecordSchema,
  actionsQuerySchema,
  noteAddBodySchema,
  noteEditBodySchema,
  noteRecordSchema,
  notesQuerySchema,
  recordIdTextSchema,
} from './note-api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { PEOPLE } from './route-parts.js';

const recordParams = z.object({ id: recordIdTextSchema });

/** The routes of people's notes on bundles and labels, and the actions given on them. */
export const NOTE_ROUTES = {
  addNote: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/notes',
    roles: PEOPLE,
    summary:
      'Add a note on a bundle or on a label, in a section of its release report, with an impact; the answer has its new id.',
    note: 'The bundle (and `fixedBy`) must exist (`E_BUNDLE_NOT_FOUND`); a label must be carried by at least one bundle (`E_LABEL_NOT_FOUND`).',
    body: noteAddBodySchema,
    answer: noteRecordSchema,
    statuses: [201],
    audit: {
      target: {
        app: 'body.on.app',
        version: 'body.on.version',
        label: 'body.on.label',
        id: 'answer.id',
      },
    },
  }),
  notes: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/notes',
    roles: PEOPLE,
    summary:
      "Notes with their actions, in the order added: a bundle's (`app` and `version`), an app's, a label's (on the label and on each bundle pushed with it), or all.",
    query: notesQuerySchema,
    answer: z.object({ notes: z.array(noteRecordSchema) }),
    statuses: [200],
  }),
  note: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/notes/:id',
    roles: PEOPLE,
    summary: 'One note, with its actions.',
    params: recordParams,
    answer: noteRecordSchema,
    statuses: [200],
  }),
  editNote: declareRoute({
    feature: 'notes',
    method: 'PATCH',
    path: '/notes/:id',
    roles: PEOPLE,
    summary:
      "Change a note's section, impact, text or the bundle that fixed it (`fixedBy: null` removes it); what the body leaves out stays.",
    params: recordParams,
    body: noteEditBodySchema,
    answer: noteRecordSchema,
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  addAction: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/notes/:id/actions',
    roles: PEOPLE,
    summary: 'Give an owner an action on a note; the answer has its new id.',
    params: recordParams,
    body: actionAddBodySchema,
    answer: actionRecordSchema,
    statuses: [201],
    audit: { target: { name: 'body.owner', id: 'params.id' } },
  }),
  completeAction: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/actions/:id/done',
    roles: PEOPLE,
    summary: 'Mark an action done; one done already stays as it was, with `changed: false`.',
    params: recordParams,
    answer: actionDoneResultSchema,
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  actions: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/actions',
    roles: PEOPLE,
    summary:
      'Actions, in the order added, each with what its note is about: of one owner, and only the open ones (`open=true`).',
    query: actionsQuerySchema,
    answer: z.object({ actions: z.array(actionListItemSchema) }),
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
