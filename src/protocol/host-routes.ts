import { z } from 'zod';
import { hostFactsAnswerSchema, hostFactsQuerySchema } from './host-facts.js';
import {
  hostRecordSchema,
  installCreateBodySchema,
  installLogsSchema,
  installRecordSchema,
} from './api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { AGENT_ROUTES } from './agent-routes.js';
import { PEOPLE } from './route-parts.js';

const installParams = z.object({ id: z.string().min(1) });

/** The routes of hosts and their installs: an agent's enrolment and credential, a host's facts, one-off installs. */
export const HOST_ROUTES = {
  enroll: AGENT_ROUTES.enroll,
  rotateCredential: AGENT_ROUTES.rotateCredential,
  confirmCredential: AGENT_ROUTES.confirmCredential,
  hosts: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/hosts',
    roles: PEOPLE,
    summary: 'The enrolled hosts, of every environment or of one.',
    query: z.object({ env: z.string().optional() }),
    answer: z.object({
      hosts: z.array(hostRecordSchema),
      /** True when the server speaks plain HTTP (`--insecure-http`): `ferry hosts` warns. */
      insecureHttp: z.boolean().optional(),
      /** When the CA clients trust ends (ISO time): `ferry hosts` warns within 90 days of it. */
      caExpiresAt: z.string().optional(),
    }),
    statuses: [200],
  }),
  hostFacts: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/hosts/:name/facts',
    roles: PEOPLE,
    summary: "A host's latest facts, and the newest `history` samples with what changed in each.",
    params: z.object({ name: z.string().min(1) }),
    query: hostFactsQuerySchema,
    answer: hostFactsAnswerSchema,
    statuses: [200],
  }),
  removeHost: declareRoute({
    feature: 'hosts',
    method: 'DELETE',
    path: '/hosts/:name',
    roles: ['admin'],
    summary: 'Remove a host: its token is revoked, and its name may be enrolled again.',
    params: z.object({ name: z.string().min(1) }),
    answer: null,
    statuses: [204],
    audit: { target: { host: 'params.name' } },
  }),
  createInstall: declareRoute({
    feature: 'hosts',
    method: 'POST',
    path: '/installs',
    roles: ['admin'],
    summary: 'Install one bundle on one host, outside any deployment (`ferry install`).',
    body: installCreateBodySchema,
    answer: installRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', host: 'body.host', id: 'answer.id' },
    },
  }),
  install: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/installs/:id',
    roles: PEOPLE,
    summary: 'One install, with its steps.',
    params: installParams,
    answer: installRecordSchema,
    statuses: [200],
  }),
  installLogs: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/installs/:id/logs',
    roles: PEOPLE,
    summary: "The output of each step of an install, with each one's exit code and duration.",
    params: installParams,
    answer: installLogsSchema,
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
