import { open } from 'node:fs/promises';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { FerryError } from '../../protocol/errors.js';
import '../routes/route-plugin.js';
import { contentTypeOf, findWebFile } from './web-file.js';

/** Vite names each asset after its content's hash: a name never changes meaning. */
const ASSET_CACHING = 'public, max-age=31536000, immutable';
/** The page and other fixed names: the browser asks each time whether they changed. */
const PAGE_CACHING = 'no-cache';

const NOT_BUILT =
  'The Ferry dashboard was not built: this server has no dist/web folder.\n' +
  'Run `npm run build` in the Ferry package (npm ci does it), then reload this page.\n' +
  'The HTTP API works without it.\n';

/**
 * The dashboard, built into `webRoot` by `npm run build`: its files as they
 * are, and `index.html` for every other GET outside `/api/`, since the page
 * routes with the History API (`/apps/cart`, `/deployments/dep_x`). These
 * routes need no token: the page itself asks to sign in. Unknown API paths
 * stay the API's JSON 404, and no path leaves `webRoot` (`findWebFile`).
 *
 * @example
 *   app.register(webRoutes('/opt/ferry/dist/web'));
 */
export function webRoutes(webRoot: string): FastifyPluginCallback {
  return (app, _options, done) => {
    const handler = (request: FastifyRequest, reply: FastifyReply) =>
      serve(webRoot, request, reply);
    app.route({ method: 'GET', url: '/', config: { webPage: true }, handler });
    app.route({ method: 'GET', url: '/*', config: { webPage: true }, handler });
    done();
  };
}

async function serve(webRoot: string, request: FastifyRequest, reply: FastifyReply) {
  const urlPath = request.url.split('?')[0] ?? '/';
  const decoded = safeDecode(urlPath);
  if (decoded !== undefined && (decoded === '/api' || decoded.startsWith('/api/'))) {
    // The router falls back to this catch-all when an API route's parameter is
    // longer than it takes; answer what it would have answered without one.
    const limit = request.server.initialConfig.maxParamLength ?? 100;
    if (urlPath.split('/').some((segment) => segment.length > limit)) {
      throw new FerryError(
        'E_URI_TOO_LONG',
        `A path parameter of the URL is longer than ${limit} characters`,
      );
    }
    return reply.callNotFound();
  }
  const index = await findWebFile(webRoot, '/index.html');
  if (index.kind !== 'file') {
    return reply
      .status(503)
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(NOT_BUILT);
  }
  const found = await findWebFile(webRoot, urlPath);
  if (found.kind === 'refused') {
    throw new FerryError('E_BAD_REQUEST', `Not served: ${found.reason}`);
  }
  const asset = decoded?.startsWith('/assets/') === true;
  if (found.kind === 'file')
    return sendFile(reply, found.path, asset ? ASSET_CACHING : PAGE_CACHING);
  // A missing asset is a 404: handing the page to a <script> would only hide it.
  if (asset) throw new FerryError('E_NOT_FOUND', `No file ${urlPath.slice(0, 200)}`);
  return sendFile(reply, index.path, PAGE_CACHING);
}

/** A file's bytes, its length taken from the file as opened (a rebuild may replace it meanwhile). */
async function sendFile(reply: FastifyReply, file: string, caching: string) {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return reply
      .header('cache-control', caching)
      .header('content-length', size)
      .type(contentTypeOf(file))
      .send(handle.createReadStream());
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
