import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../bundle/manifest-schema.js';
import type { Store } from '../../store/store.js';
import type { EventBus } from '../events/event-bus.js';
import type { ServerConfig } from '../server-config.js';
import { AlertService } from './alert-service.js';
import { AlertPrune } from './alert-prune.js';
import { HostAwaySweep } from './host-away-sweep.js';

/**
 * Starts watching for alerts: a service's health report, a host's facts
 * report, a host connecting and a deployment's end are heard on the bus (`onLocal`: the replica
 * that recorded the change acts on it, once — an agent's health message is
 * acknowledged only after its alert is raised); hosts away are swept for, and
 * alerts cleared over `alerts.keepDays` ago pruned, on every replica from the
 * app's start until its close. `store` is the evented
 * store, so that alerts raised and cleared are events too.
 *
 * @example
 *   const alerts = watchAlerts(app, events, store, config);
 *   app.register(alertRoutes(alerts));
 */
export function watchAlerts(
  app: FastifyInstance,
  events: EventBus,
  store: Store,
  config: Readonly<Pick<ServerConfig, 'alerts' | 'environments'>>,
): AlertService {
  const alerts = new AlertService(store, config.alerts);
  const away = new HostAwaySweep(
    store,
    config.environments,
    parseDuration(config.alerts.checkEvery),
    app.log,
  );
  const prune = new AlertPrune(store, config.alerts.keepDays, app.log);
  events.onLocal('service.reported', (report) => alerts.serviceHealth(report));
  events.onLocal('deployment.state', (event) => alerts.deploymentState(event));
  events.onLocal('host.reported', (notice) => alerts.hostFacts(notice.hostId, notice.facts));
  events.onLocal('host.connected', (event) => away.hostConnected(event.hostId));
  app.addHook('onReady', () => {
    away.start();
    prune.start();
  });
  // Before the store closes (after the app): a sweep or pruning under way ends first.
  app.addHook('preClose', async () => {
    await away.stop();
    await prune.stop();
  });
  return alerts;
}
