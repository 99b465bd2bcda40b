import { Readable } from 'node:stream';
import { FerryError } from '../../protocol/errors.js';
import type { AgentService } from '../agent-service.js';
import type { BundleService } from '../bundle-service.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import { parseRange } from '../http-range.js';
import type { ServerSigningKey } from '../signing-key.js';
import type { VerdictService } from '../verdict-service.js';
import { routePlugin } from './route-plugin.js';

/** Bundle routes: push, list apps and bundles, show one, download one (with Range). */
export function bundleRoutes(
  bundles: BundleService,
  verdicts: Pick<VerdictService, 'verdictOf'>,
  deployments: Pick<DeploymentService, 'afterPush'>,
  agents: Pick<AgentService, 'authorizeDownload'>,
  signingKey: Pick<ServerSigningKey, 'publicKey' | 'keyId'>,
) {
  return routePlugin('bundles', {
    pushBundle: async ({ token, query: { label, signature, signedBy }, body, request, reply }) => {
      if ((signature === undefined) !== (signedBy === undefined)) {
        // Refused before the body is read: the connection closes after the answer.
        void reply.header('connection', 'close');
        throw new FerryError(
          'E_BAD_REQUEST',
          'A signed push sends both `signature` and `signedBy` (the public key)',
        );
      }
      if (!(body instanceof Readable)) {
        throw new FerryError(
          'E_BAD_REQUEST',
          'Send the bundle as the request body, with Content-Type: application/gzip',
        );
      }
      const declared = request.headers['content-length'];
      const gone = new AbortController();
      request.raw.once('close', () => gone.abort());
      const result = await bundles
        .push({
          body,
          contentLength: declared === undefined ? undefined : Number(declared),
          pushedBy: token.name,
          label,
          developerSignature:
            signature !== undefined && signedBy !== undefined
              ? { publicKey: signedBy, signature }
              : undefined,
          signal: gone.signal,
          log: request.log,
        })
        .catch((err: unknown) => {
          // The body was not read to its end: the answer goes out, then the
          // connection closes, rather than the server reading on what it refused.
          if (
            err instanceof FerryError &&
            (err.code === 'E_UPLOAD_STALLED' ||
              err.code === 'E_SERVER_BUSY' ||
              err.code === 'E_STORAGE_FULL')
          ) {
            void reply.header('connection', 'close');
            const retryAfter = err.details?.retryAfterSeconds;
            if (typeof retryAfter === 'number') {
              void reply.header('retry-after', String(retryAfter));
            }
          }
          throw err;
        });
      request.log.info(
        {
          app: result.bundle.app,
          version: result.bundle.version,
          sha256: result.bundle.sha256,
          created: result.created,
        },
        result.created ? 'bundle pushed' : 'bundle pushed again: existing version returned',
      );
      if (result.created) {
        const bundle = await bundles.get(result.bundle.app, result.bundle.version);
        result.deployments = await deployments.afterPush(bundle, token.name);
      }
      void reply.status(result.created ? 201 : 200);
      return result;
    },

    apps: async () => ({ apps: await bundles.apps() }),

    signingKey: () => Promise.resolve({ publicKey: signingKey.publicKey, keyId: signingKey.keyId }),

    bundles: async ({ params, query }) => ({
      bundles: (await bundles.list(params.app, query.limit)).map((b) => bundles.checked(b)),
    }),

    bundle: async ({ params: { app: name, version } }) => {
      const bundle = bundles.checked(await bundles.get(name, version));
      return { ...bundle, verdict: await verdicts.verdictOf(name, version) };
    },

    downloadBundle: async ({ params: { app: name, version }, token, request, reply }) => {
      // Before the lookup, so an agent token cannot even learn which bundles exist.
      if (token.role === 'agent') await agents.authorizeDownload(token, name, version);
      const bundle = await bundles.get(name, version);
      const range = parseRange(request.headers.range, bundle.size);
      void reply
        .header('accept-ranges', 'bytes')
        .header('etag', `"${bundle.sha256}"`)
        .header('x-ferry-sha256', bundle.sha256)
        .header('content-disposition', `attachment; filename="${name}-${version}.tar.gz"`);
      if (range === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${bundle.size}`);
        throw new FerryError(
          'E_RANGE_NOT_SATISFIABLE',
          `${name}@${version} has ${bundle.size} bytes`,
          { size: bundle.size },
        );
      }
      void reply.type('application/gzip');
      if (range) {
        return reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${bundle.size}`)
          .header('content-length', range.end - range.start + 1)
          .send(bundles.open(bundle, range));
      }
      return reply.header('content-length', bundle.size).send(bundles.open(bundle));
    },
  });
}
