import type { NoteService } from '../note-service.js';
import { routePlugin } from './route-plugin.js';

/**
 * Notes and actions: add, list, show and edit notes on a bundle or a label;
 * add actions to them, mark them done, list them by owner. The texts are in
 * the store and the history, not in the server's log.
 */
export function noteRoutes(notes: NoteService) {
  return routePlugin('notes', {
    addNote: async ({ token, body, request }) => {
      const note = await notes.add(token, body);
      request.log.info({ note: note.id, on: note.on, by: token.name }, 'note added');
      return note;
    },

    notes: async ({ query }) => ({ notes: await notes.list(query) }),

    note: ({ params: { id } }) => notes.get(id),

    editNote: async ({ token, params: { id }, body, request }) => {
      const note = await notes.edit(token, id, body);
      request.log.info({ note: id, by: token.name }, 'note edited');
      return note;
    },

    addAction: async ({ token, params: { id }, body, request }) => {
      const action = await notes.addAction(token, id, body);
      request.log.info({ note: id, action: action.id, by: token.name }, 'action added');
      return action;
    },

    completeAction: async ({ token, params: { id }, request }) => {
      const result = await notes.completeAction(token, id);
      if (result.changed) request.log.info({ action: id, by: token.name }, 'action done');
      return result;
    },

    actions: async ({ query }) => ({ actions: await notes.actions(query) }),
  });
}
