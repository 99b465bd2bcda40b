import type { FastifyBaseLogger } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ALERT_KINDS } from '../../protocol/alert-api.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  type DeploymentState,
  type InstallState,
  isActiveDeployment,
  isFinalInstall,
} from '../../protocol/lifecycle.js';
import type { Store } from '../../store/store.js';
import type { EventBus } from '../events/event-bus.js';

/** A step name as a label value: the agent's steps are a fixed set, but it is input from afar. */
const STEP_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** At most this many distinct step labels; any further one is counted as `other`. */
const MAX_STEP_NAMES = 32;

/**
 * The server's Prometheus metrics, on a registry of its own (never prom-client's
 * global one, which another library in the process could fill). What the store
 * holds now (deployments under way, hosts, open alerts, the outbox) is read at
 * each scrape with one bounded query each; what happened (a deployment ended,
 * an install or a step took so long) is counted from the event bus as this
 * replica records it (`onLocal`), so that summing the replicas' series counts
 * each once. Labels are bounded: environments, states, kinds, step names,
 * route patterns — never a host or an install id.
 *
 * @example
 *   const metrics = new FerryMetrics(store, ['qa', 'prod'], app.log);
 *   metrics.listen(events);
 *   app.addHook('onResponse', (request, reply) => metrics.observeRequest(...));
 *   const text = await metrics.text();
 */
export class FerryMetrics {
  readonly registry = new Registry();
  private readonly deploymentsFinished: Counter<'env' | 'outcome'>;
  private readonly installDuration: Histogram<'env' | 'outcome'>;
  private readonly stepDuration: Histogram<'step' | 'outcome'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_class'>;
  private readonly stepNames = new Set<string>();

  constructor(
    private readonly store: Store,
    /** The configured environments: each reads 0 when it has nothing, rather than vanishing. */
    private readonly envs: readonly string[],
    private readonly logger: FastifyBaseLogger,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });

    new Gauge({
      name: 'ferry_deployments',
      help: 'Deployments under way (pending, running, baking or paused), by state and environment.',
      labelNames: ['state', 'env'],
      registers,
      collect: async function (this: Gauge<'state' | 'env'>) {
        const active = await store.deployments.list({
          states: [...ACTIVE_DEPLOYMENT_STATES],
        });
        this.reset();
        for (const env of envs)
          for (const state of ACTIVE_DEPLOYMENT_STATES) this.set({ state, env }, 0);
        for (const d of active) this.inc({ state: d.state, env: d.env });
      },
    });
    this.deploymentsFinished = new Counter({
      name: 'ferry_deployments_finished_total',
      help: 'Deployments that ended, by environment and outcome (their final state), since this server started.',
      labelNames: ['env', 'outcome'],
      registers,
    });
    this.installDuration = new Histogram({
      name: 'ferry_install_duration_seconds',
      help: 'How long an install took on its host, from its start to its end, by environment and outcome.',
      labelNames: ['env', 'outcome'],
      buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'ferry_step_duration_seconds',
      help: 'How long one step of an install took (fetch, unpack, health, ...), by step and outcome.',
      labelNames: ['step', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    /** A gauge of the enrolled hosts (not revoked) that `counts`, by environment, read at each scrape. */
    const hostGauge = (
      name: string,
      help: string,
      counts: (host: { connected: boolean }) => boolean,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['env'],
        registers,
        collect: async function (this: Gauge<'env'>) {
          const hosts = await store.hosts.list({ facts: false });
          this.reset();
          for (const env of envs) this.set({ env }, 0);
          for (const host of hosts)
            if (host.revokedAt === null && counts(host)) this.inc({ env: host.env });
        },
      });
    hostGauge('ferry_hosts', 'Enrolled hosts (not revoked), by environment.', () => true);
    hostGauge(
      'ferry_hosts_connected',
      'Enrolled hosts whose agent is connected now, by environment.',
      (host) => host.connected,
    );
    new Gauge({
      name: 'ferry_alerts_open',
      help: 'Alerts raised and not cleared, by kind.',
      labelNames: ['kind'],
      registers,
      collect: async function (this: Gauge<'kind'>) {
        // Counted by the store: a list would stop at its limit.
        const open = await store.alerts.countOpen();
        this.reset();
        // Every kind, so that a kind with no open alert reads 0 rather than vanishing.
        for (const kind of ALERT_KINDS) this.set({ kind }, open[kind] ?? 0);
      },
    });
    new Gauge({
      name: 'ferry_outbox_messages',
      help: "Jobs waiting in the hosts' outboxes for their agents (built-in transport; 0 with RabbitMQ).",
      registers,
      collect: async function (this: Gauge) {
        this.set(await store.outbox.depth());
      },
    });
    this.httpDuration = new Histogram({
      name: 'ferry_http_request_duration_seconds',
      help: 'HTTP requests answered, by method, route (its declared pattern) and status class, and how long each took.',
      labelNames: ['method', 'route', 'status_class'],
      registers,
    });
  }

  /**
   * Counts what this replica records: deployments that end, installs and steps
   * with their durations. A listener never throws: a metric is not worth a
   * failed effect (an agent's message redelivered).
   */
  listen(events: EventBus): void {
    events.onLocal('deployment.state', async (event) => {
      const state = event.data.state as DeploymentState;
      if (isActiveDeployment(state)) return;
      try {
        // `partial` may later become `succeeded` (its hosts caught up): it ended once, counted once.
        if (state === 'succeeded' && (await this.endedBefore(event.deploymentId))) return;
        this.deploymentsFinished.inc({ env: event.env ?? 'none', outcome: state });
      } catch (err) {
        this.logger.warn({ err, deploymentId: event.deploymentId }, 'deployment end not counted');
      }
    });
    events.onLocal('install.step', (event) => {
      const { step, state, durationMs } = event.data;
      if (state === 'running' || durationMs === null) return;
      this.stepDuration.observe({ step: this.stepLabel(step), outcome: state }, durationMs / 1000);
    });
    events.onLocal('install.state', async (event) => {
      const state = event.data.state as InstallState;
      if (!isFinalInstall(state)) return;
      try {
        const install = await this.store.installs.get(event.data.installId);
        if (install?.startedAt == null || install.finishedAt === null) return;
        const seconds = (Date.parse(install.finishedAt) - Date.parse(install.startedAt)) / 1000;
        if (!(seconds >= 0)) return;
        this.installDuration.observe({ env: event.env ?? 'none', outcome: state }, seconds);
      } catch (err) {
        this.logger.warn({ err, installId: event.data.installId }, 'install not measured');
      }
    });
  }

  /**
   * One HTTP request answered: `route` is the pattern the router matched
   * (`/api/v1/apps/:app`), never the raw URL, so that each id does not make a series.
   */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe(
      { method, route, status_class: `${Math.floor(status / 100)}xx` },
      seconds,
    );
  }

  /** The Content-Type of `text()`: the Prometheus text format, version 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format, the store's gauges read now. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** True when the deployment had already ended as `partial` (its recorded events say so). */
  private async endedBefore(deploymentId: string | null): Promise<boolean> {
    if (deploymentId === null) return false;
    const events = await this.store.events.list({
      after: 0,
      limit: 1000,
      filter: { deploymentId, kinds: ['deployment.state'] },
    });
    return events.some((e) => e.kind === 'deployment.state' && e.data.state === 'partial');
  }

  private stepLabel(step: string): string {
    if (this.stepNames.has(step)) return step;
    if (!STEP_NAME.test(step) || this.stepNames.size >= MAX_STEP_NAMES) return 'other';
    this.stepNames.add(step);
    return step;
  }
}
