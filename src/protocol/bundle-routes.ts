import { z } from 'zod';
import {
  appSummarySchema,
  bundleDetailWithVerdictSchema,
  bundleRecordSchema,
  pushResultSchema,
} from './api.js';
import { countTextSchema, labelSchema } from './fields.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { AGENT_ROUTES, bundleParams } from './agent-routes.js';
import { appParams, PEOPLE } from './route-parts.js';

const limitQuery = z.object({ limit: countTextSchema(1, 1000).optional() });

/** The routes of bundles: pushing one, listing apps and bundles, and an agent's download. */
export const BUNDLE_ROUTES = {
  pushBundle: declareRoute({
    feature: 'bundles',
    method: 'POST',
    path: '/bundles',
    roles: ['admin', 'deployer'],
    summary:
      'Push a bundle (the raw .tar.gz as the body): 201 with its new version, or 200 with the version the same bytes already have.',
    note: "Deploys it at once to each environment with autoDeploy; the answer lists those deployments. The server signs the bundle with its own key. With `signature` and `signedBy` (both or neither), a developer's signature is checked and kept with the bundle (`E_SIGNATURE_INVALID` if it does not verify); pushing the same bytes again with a new signature adds it.",
    query: z.object({
      label: labelSchema.optional(),
      /** A developer's ed25519 signature (base64) over the bundle's app, sha256 and label. */
      signature: z
        .string()
        .regex(/^[A-Za-z0-9+/]{86}==$/, { error: 'expected an ed25519 signature in base64' })
        .optional(),
      /** The public key (32 bytes in base64) of the signature. */
      signedBy: z
        .string()
        .regex(/^[A-Za-z0-9+/]{43}=$/, { error: 'expected an ed25519 public key in base64' })
        .optional(),
    }),
    body: { stream: true, contentTypes: ['application/gzip', 'application/octet-stream'] },
    answer: pushResultSchema,
    statuses: [201, 200],
    audit: {
      target: {
        app: 'answer.bundle.app',
        version: 'answer.bundle.version',
        label: ['answer.bundle.label', 'query.label'],
      },
    },
  }),
  apps: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps',
    roles: PEOPLE,
    summary: 'Every app, with its latest version and bundle count.',
    answer: z.object({ apps: z.array(appSummarySchema) }),
    statuses: [200],
  }),
  bundles: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps/:app/bundles',
    roles: PEOPLE,
    summary: "An app's bundles, newest first.",
    params: appParams,
    query: limitQuery,
    answer: z.object({ bundles: z.array(bundleRecordSchema) }),
    statuses: [200],
  }),
  bundle: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps/:app/bundles/:version',
    roles: PEOPLE,
    summary: 'One bundle: its record, the manifest section it carries, and its verdict now.',
    params: bundleParams,
    answer: bundleDetailWithVerdictSchema,
    statuses: [200],
  }),
  downloadBundle: AGENT_ROUTES.downloadBundle,

  signingKey: AGENT_ROUTES.signingKey,
} as const satisfies Record<string, RouteDeclaration>;
