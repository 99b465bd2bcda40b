import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { FerryError } from '../../protocol/errors.js';
import '../routes/route-plugin.js';
import type { ServerConfig } from '../server-config.js';
import type { FerryMetrics } from './ferry-metrics.js';

/**
 * `GET /metrics`, for Prometheus: outside the API, at the path scrapers
 * expect, guarded by its own bearer secret (`metrics.token`) rather than a
 * Ferry token (`OWN_GUARD_ROUTES`). Registered whether or not metrics are
 * enabled: disabled, it answers the API's 404, where the dashboard's
 * catch-all would otherwise answer its page.
 *
 * @example
 *   app.register(metricsRoutes(config.metrics, metrics));
 */
export function metricsRoutes(
  settings: ServerConfig['metrics'],
  metrics: FerryMetrics | undefined,
): FastifyPluginCallback {
  return (app, _options, done) => {
    app.route({
      method: 'GET',
      url: '/metrics',
      config: { ownGuard: 'metrics' },
      handler: async (request, reply) => {
        if (!settings.enabled || metrics === undefined) {
          throw new FerryError(
            'E_NOT_FOUND',
            'No route GET /metrics: metrics are disabled (metrics.enabled in the server config)',
          );
        }
        if (!settings.public) checkScraper(request, settings.token);
        const text = await metrics.text();
        return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text);
      },
    });
    done();
  };
}

/** The scraper's bearer secret, compared in constant time; never logged. */
function checkScraper(request: FastifyRequest, token: string | undefined): void {
  const header = request.headers.authorization;
  const sent = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (sent === undefined) {
    throw new FerryError(
      'E_METRICS_TOKEN',
      '/metrics needs Authorization: Bearer <metrics.token>',
      { reason: 'missing' },
    );
  }
  // The config refuses enabled metrics with neither a token nor public: true.
  if (token === undefined || !sameSecret(sent, token)) {
    throw new FerryError('E_METRICS_TOKEN', 'The bearer token is not the metrics token', {
      reason: 'wrong',
    });
  }
}

/** Compares two secrets in time that does not depend on where, or whether, they differ. */
function sameSecret(sent: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(sent), digest(expected));
}
