import { z } from 'zod';
import { appNameSchema } from '../bundle/manifest-schema.js';
import {
  credentialTimesSchema,
  enrollBodySchema,
  enrollResultSchema,
  type Role,
  rotatedCredentialSchema,
  signingKeySchema,
} from './api.js';
import { installWantedSchema } from './deployment-api.js';
import { versionTextSchema } from './fields.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';

/**
 * The routes an agent calls, declared here and taken into `ROUTES` as they
 * are: the agent's client (`AgentClient`) is made from this table alone, so
 * that an agent never loads the schemas of the whole API (bench/README.md,
 * "Lean agent").
 */

/** Every token, an agent's too. */
export const ANY_TOKEN = ['admin', 'deployer', 'qa', 'agent'] as const satisfies readonly Role[];

export const bundleParams = z.object({ app: appNameSchema, version: versionTextSchema });
export const deploymentParams = z.object({ id: z.string().min(1).max(100) });

/** A bundle as bytes: how it is pushed and downloaded. */
const bundleBytes = { stream: true, contentTypes: ['application/gzip'] } as const;

export const AGENT_ROUTES = {
  downloadBundle: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps/:app/bundles/:version/download',
    roles: ANY_TOKEN,
    summary:
      "A bundle's bytes, with `Range` for resuming (206); `X-Ferry-Sha256` and `ETag` carry its sha256.",
    note: 'An agent token downloads only a bundle its host was sent.',
    params: bundleParams,
    answer: bundleBytes,
    statuses: [200, 206],
  }),
  signingKey: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/signing-key',
    roles: ANY_TOKEN,
    summary: "The server's bundle-signing public key and its fingerprint.",
    note: 'Agents get it at enrolment; an agent enrolled before bundles were signed fetches it here once and keeps it.',
    answer: signingKeySchema,
    statuses: [200],
  }),
  enroll: declareRoute({
    feature: 'hosts',
    method: 'POST',
    path: '/agents/enroll',
    roles: ['agent'],
    forbidden: 'Enrolling needs an enrolment token: `ferry tokens create --role agent --env ENV`',
    summary: "Enrol a host with an enrolment token; the answer carries the host's own token.",
    note: 'Needs an enrolment token (`ferry tokens create --role agent`), not a host token.',
    body: enrollBodySchema,
    answer: enrollResultSchema,
    statuses: [201],
    audit: { target: { host: 'body.name', env: 'body.env', id: 'answer.hostId' } },
  }),
  rotateCredential: declareRoute({
    feature: 'hosts',
    method: 'POST',
    path: '/agent/credential',
    roles: ['agent'],
    forbidden: "Only a host's own credential is rotated, with that credential",
    summary:
      "Rotate the calling host's own credential: the answer is its successor, with when it expires and when to rotate it.",
    note: 'The credential the call was made with counts on until its successor is first used (its confirmation) or `hosts.rotationGraceSeconds` ends. Asked again with the old one, it makes another successor and revokes the unused first one.',
    answer: rotatedCredentialSchema,
    statuses: [201],
    // The host is the caller (its token's name); the credential itself is never read.
    audit: { target: {} },
  }),
  confirmCredential: declareRoute({
    feature: 'hosts',
    method: 'POST',
    path: '/agent/credential/confirm',
    roles: ['agent'],
    forbidden: "Only a host's own credential is confirmed, with that credential",
    summary:
      'Confirm a rotated host credential (any call with it does): the one it replaced stops counting. Answers its times.',
    answer: credentialTimesSchema,
    statuses: [200],
    // The host is the caller (its token's name); the credential itself is never read.
    audit: { target: {} },
  }),
  installWanted: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/agent/installs/:id',
    roles: ['agent'],
    summary:
      "An agent's question before it starts a job that waited: is this install still wanted?",
    note: '`E_INSTALL_NOT_FOUND` for an install that is not for the calling host. A "yes" is recorded as the start of the job (the install becomes `running`): from then on the host has it, and a rollout that gives up on the host never hands its migrations to another.',
    params: deploymentParams,
    answer: installWantedSchema,
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
