import { z } from 'zod';
import {
  variableNameSchema,
  variableRecordSchema,
  variableScopeQuerySchema,
  variableSetBodySchema,
  variableSetResultSchema,
} from './api.js';
import { type AuditDeclaration, declareRoute, type RouteDeclaration } from './route-declaration.js';
import { PEOPLE } from './route-parts.js';

/** A variable set: its name and scope, never its value. */
const VARIABLE_SET_AUDIT = {
  target: {
    name: 'body.name',
    app: 'body.app',
    env: 'body.env',
    role: 'body.role',
    host: 'body.host',
  },
} as const satisfies AuditDeclaration;

/** The routes of variables: setting, listing and unsetting them by scope. */
export const VARIABLE_ROUTES = {
  setVariable: declareRoute({
    feature: 'variables',
    method: 'PUT',
    path: '/vars',
    roles: ['admin', 'deployer'],
    summary: 'Set a variable in a scope: 201 when new, 200 when it replaced a value.',
    note: 'A protected environment (and its roles and hosts) takes only an admin.',
    body: variableSetBodySchema,
    answer: variableSetResultSchema,
    statuses: [201, 200],
    audit: VARIABLE_SET_AUDIT,
  }),
  setVariableByPost: declareRoute({
    feature: 'variables',
    method: 'POST',
    path: '/vars',
    roles: ['admin', 'deployer'],
    summary: 'The same as `PUT /vars`.',
    body: variableSetBodySchema,
    answer: variableSetResultSchema,
    statuses: [201, 200],
    audit: VARIABLE_SET_AUDIT,
  }),
  variables: declareRoute({
    feature: 'variables',
    method: 'GET',
    path: '/vars',
    roles: PEOPLE,
    summary: "The variables, of every scope or of one; a secret's value is always null.",
    query: variableScopeQuerySchema,
    answer: z.object({ variables: z.array(variableRecordSchema) }),
    statuses: [200],
  }),
  unsetVariable: declareRoute({
    feature: 'variables',
    method: 'DELETE',
    path: '/vars/:name',
    roles: ['admin', 'deployer'],
    summary: 'Unset a variable in one scope.',
    params: z.object({ name: variableNameSchema }),
    query: variableScopeQuerySchema,
    answer: null,
    statuses: [204],
    audit: {
      target: {
        name: 'params.name',
        app: 'query.app',
        env: 'query.env',
        role: 'query.role',
        host: 'query.host',
      },
    },
  }),
} as const satisfies Record<string, RouteDeclaration>;
