import { z } from 'zod';
import {
  tokenCreateBodySchema,
  tokenCreatedSchema,
  tokenRecordSchema,
  tokensQuerySchema,
  whoamiSchema,
} from './api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { ANY_TOKEN } from './agent-routes.js';

/** The routes of tokens: the calling one, and an admin's making, listing and revoking them. */
export const TOKEN_ROUTES = {
  whoami: declareRoute({
    feature: 'tokens',
    method: 'GET',
    path: '/whoami',
    roles: ANY_TOKEN,
    summary: 'The calling token (id, name, role, environment) and the server version.',
    answer: whoamiSchema,
    statuses: [200],
  }),
  createToken: declareRoute({
    feature: 'tokens',
    method: 'POST',
    path: '/tokens',
    roles: ['admin'],
    summary: 'Make a token; the answer is the only time its secret is shown.',
    body: tokenCreateBodySchema,
    answer: tokenCreatedSchema,
    statuses: [201],
    audit: {
      target: {
        name: ['answer.name', 'body.name'],
        role: 'body.role',
        env: 'body.env',
        id: 'answer.id',
      },
    },
  }),
  tokens: declareRoute({
    feature: 'tokens',
    method: 'GET',
    path: '/tokens',
    roles: ['admin'],
    summary:
      'Every token, without its secret; host credentials their rotation replaced only with `all=true`.',
    query: tokensQuerySchema,
    answer: z.object({ tokens: z.array(tokenRecordSchema) }),
    statuses: [200],
  }),
  revokeToken: declareRoute({
    feature: 'tokens',
    method: 'DELETE',
    path: '/tokens/:id',
    roles: ['admin'],
    summary: 'Revoke a token: it is refused from then on.',
    params: z.object({ id: z.string().min(1) }),
    answer: null,
    statuses: [204],
    audit: { target: { id: 'params.id' } },
  }),
} as const satisfies Record<string, RouteDeclaration>;
