import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { PROTOCOL_VERSION, type Job } from '../protocol/messages.js';
import type { BuiltinAgentTransportOptions } from '../transport/builtin/builtin-agent-transport.js';
import type { AgentTransport } from '../transport/transport.js';
import { agentClientOptions, loadOrEnroll, signingKeyOf } from './agent-identity.js';
import { CredentialRotation } from './credential-rotation.js';
import { type AgentRootLock, lockAgentRoot } from './agent-root-lock.js';
import { AgentLogger } from './agent-logger.js';
import { HealthWatch } from './health/health-watch.js';
import { HostFactsCollector } from './host-facts.js';
import { askWanted } from './install-wanted.js';
import { BundleFetcher } from './install/bundle-fetcher.js';
import type { InstallHost, InstallResult } from './install/install-pipeline.js';
import { killRunningCommands, StepReporter } from './install/step-reporter.js';
import { JobJournal, type JournalEntry } from './job-journal.js';
import { heapAtWork } from './lean-heap.js';
import type { ProcessDriver } from './process/process-driver.js';

/** `ferry agent`'s settings. */
export interface AgentOptions {
  server: string;
  /** The enrolment token; needed only the first time. */
  token?: string | undefined;
  /** The fingerprint of the server's CA, from the join string: pinned at enrolment. */
  caFingerprint?: string | null | undefined;
  env: string;
  roles: string[];
  root: string;
  name: string;
  vars: Record<string, string>;
  driver: 'builtin' | 'supervisord' | 'systemd';
  supervisordConfig?: string | undefined;
  supervisordInclude?: string | undefined;
  systemdUnitDir?: string | undefined;
  /** PATH for hooks, install commands and services. */
  path: string;
  commandTimeoutMs: number;
  /** How long one "is this job still wanted?" question waits for the server's answer. */
  checkTimeoutMs?: number | undefined;
  heartbeatMs: number;
  /** How long stopping waits for an install under way before leaving it to the next start (default 3 s). */
  stopGraceMs?: number;
  /** How jobs and events travel: the server's WebSocket, or RabbitMQ with this host's broker user. */
  transport:
    | { kind: 'builtin' }
    | {
        kind: 'rabbitmq';
        url: string;
        prefix: string;
        /** For amqps://: the PEM file of the broker's CA (else the system's). */
        caFile?: string;
      };
}

/** A running agent. */
export interface RunningAgent {
  hostId: string;
  name: string;
  close(): Promise<void>;
}

/**
 * Runs the agent: enrols (or finds its identity), connects to the server,
 * reports facts on connection and at each heartbeat, and carries out jobs one
 * at a time, journaled so that a job delivered again is not run twice.
 */
export async function runAgent(
  options: AgentOptions,
  logger = new AgentLogger(),
): Promise<RunningAgent> {
  const root = path.resolve(options.root);
  const agentDir = path.join(root, 'agent');
  await mkdir(agentDir, { recursive: true, mode: 0o700 });
  const lock = await lockAgentRoot(agentDir);
  try {
    return await startAgent(options, logger, root, agentDir, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function startAgent(
  options: AgentOptions,
  logger: AgentLogger,
  root: string,
  agentDir: string,
  lock: AgentRootLock,
): Promise<RunningAgent> {
  const { identity, enrolled, trust } = await loadOrEnroll(
    root,
    options.server,
    options.token,
    {
      name: options.name,
      env: options.env,
      roles: options.roles,
      vars: options.vars,
    },
    options.caFingerprint,
  );
  // Every HTTP call and the WebSocket trust exactly the pinned CA (or the system's store).
  const clientOptions = agentClientOptions(trust, root, identity.env);
  logger.info(
    { hostId: identity.hostId, name: identity.name, env: identity.env },
    enrolled ? 'enrolled' : 'identity found',
  );

  // Rotated before anything connects when due (an identity kept while the agent
  // was stopped long); one the server no longer takes stops the agent here.
  const rotation = new CredentialRotation({ root, identity, logger, clientOptions });
  await rotation.rotateIfDue();

  // An agent enrolled before bundles were signed fetches the server's key once
  // now; if the server cannot say, the first bundle to verify asks again.
  if (identity.signingKey === undefined) {
    await signingKeyOf(root, identity, clientOptions).then(
      () => logger.info({ hostId: identity.hostId }, "fetched the server's bundle-signing key"),
      (err: unknown) =>
        // The server restarting (E_SERVER_STOPPING) is expected: warned of, as it is asked again.
        err instanceof FerryError && err.code === 'E_SERVER_STOPPING'
          ? logger.warn(
              { err },
              'the server is stopping or restarting: its bundle-signing key is asked for again with the first bundle',
            )
          : logger.error({ err }, "fetching the server's bundle-signing key failed"),
    );
  }
  // Only the driver and the transport in use are loaded: an agent on the
  // server's WebSocket never loads the RabbitMQ client (bench/agent-memory.mjs).
  /** Told of each restart the driver makes of a service (continuous health counts them). */
  let onRestart: (app: string) => void = () => undefined;
  const driver = await makeDriver(options, agentDir, (app) => onRestart(app));
  const transport: AgentTransport =
    options.transport.kind === 'rabbitmq'
      ? await rabbitmqTransport(options.transport, identity.hostId, logger)
      : await builtinTransport({
          server: identity.server,
          token: identity.token,
          tls: trust.tlsOptions(),
          logger,
        });
  const journal = new JobJournal(path.join(agentDir, 'journal'));
  const host: InstallHost = {
    name: identity.name,
    appsDir: path.join(root, 'apps'),
    path: options.path,
    home: path.join(agentDir, 'home'),
    commandTimeoutMs: options.commandTimeoutMs,
    driver,
    // The credential rotates: each download reads the one in use then.
    fetcher: new BundleFetcher(
      path.join(agentDir, 'cache'),
      identity.server,
      () => identity.token,
      undefined,
      clientOptions,
    ),
    signingKey: () => signingKeyOf(root, identity, clientOptions),
    stateDir: path.join(agentDir, 'apps'),
  };
  /** The job being run now, if any: the server leaves a busy host alone when catching it up. */
  let busyWith: string | null = null;
  await mkdir(host.home, { recursive: true });

  const facts = new HostFactsCollector({
    root,
    path: options.path,
    stateDir: host.stateDir,
    driver,
    // What the watch found, rather than a second probe of each service.
    watchedHealth: (app, version) => watch.stateOf(app, version),
  });
  const watch: HealthWatch = new HealthWatch({
    stateDir: host.stateDir,
    appsDir: host.appsDir,
    driver,
    // The builtin driver tells of each restart it makes; the others' are seen as a new pid.
    restartsFromPids: driver.kind !== 'builtin',
    report: (report) => transport.emit({ v: PROTOCOL_VERSION, id: randomUUID(), ...report }),
    logger,
  });
  onRestart = (app) => watch.noteRestart(app);
  // An install keys the reuse of installed dependencies on the runtime's version: the same probe.
  host.runtimes = () => facts.runtimeVersions();
  const reportFacts = async () => {
    transport.emit({
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      type: 'facts',
      facts: await facts.collect({ roles: options.roles, busy: busyWith }),
    });
  };
  const reportFactsSafely = () =>
    reportFacts().catch((err: unknown) => logger.error({ err }, 'collecting facts failed'));

  /** Aborted when the agent stops: a job waiting on the server's answer stops waiting. */
  const stopping = new AbortController();
  /**
   * Set when stopping gave up waiting for the install under way: whatever it ends
   * with now (its commands killed at exit, a lock released) is no result, and
   * must not be written as one — the next start resumes the install instead.
   */
  let abandoned = false;
  /** Carries out one job; answers the facts report sent after an install, if one was. */
  const runJob = async (job: Job): Promise<{ factsReport: Promise<void> } | undefined> => {
    const steps = new StepReporter(transport, job.id);
    const seen = await journal.get(job.id);
    if (seen?.state === 'finished' && seen.result) {
      logger.info({ jobId: job.id }, 'job seen before: reporting its result again');
      steps.emit({
        type: 'job.finished',
        jobId: job.id,
        ...seen.result,
        ...(seen.declined ? { declined: true } : {}),
      });
      await transport.drain();
      return;
    }
    const startedAt = new Date().toISOString();
    if (!seen) {
      // A job not seen before may have waited in the queue while the server moved
      // on (this host was offline and skipped, or the deployment was cancelled).
      // A slow or failing answer is asked again with backoff; if the server still
      // cannot say, the job is not acknowledged, and the transport delivers it again
      // (for a while: see `JobRetries`). An answer that asking again will not change
      // is a `FinalJobError`: the transport ends the job as failed.
      // The credential is read at each attempt: it may rotate while the answer is retried.
      const asking = {
        server: identity.server,
        get token() {
          return identity.token;
        },
        clientOptions,
      };
      const wanted = await askWanted(asking, job.id, {
        timeoutMs: options.checkTimeoutMs,
        signal: stopping.signal,
        // On the open connection when the transport can (no TLS handshake per job).
        onConnection: transport.askWanted?.bind(transport),
        onRetry: (err, attempt, delayMs) =>
          logger.warn(
            { jobId: job.id, attempt, delayMs, code: err.code, error: err.message },
            'asking the server whether the job is still wanted failed; asking again',
          ),
      });
      if (!wanted.proceed) {
        const result = {
          ok: false,
          rolledBack: false,
          error: `not run: ${wanted.reason ?? 'not wanted'}`,
        };
        logger.info(
          { jobId: job.id, reason: wanted.reason },
          'job declined: the server no longer wants it',
        );
        await journal
          .put({ jobId: job.id, state: 'finished', startedAt, result, declined: true })
          .catch((err: unknown) =>
            // A full disk, say: the server is told all the same, or the job would
            // come back again and again and hold every later one behind it.
            logger.error(
              { err, jobId: job.id },
              'recording the declined job in the journal failed',
            ),
          );
        steps.emit({ type: 'job.finished', jobId: job.id, ...result, declined: true });
        await transport.drain();
        return;
      }
    }
    busyWith = job.id;
    // A job resumed after a crash keeps what it remembered, should it crash again;
    // each later write adds to the entry, so that none loses what another wrote.
    const resumed =
      seen?.state === 'running'
        ? { previous: seen.previous, reverting: seen.reverting, migration: seen.migration }
        : {};
    let entry: JournalEntry = { jobId: job.id, state: 'running', startedAt, ...resumed };
    const remember = (more: Partial<JournalEntry>): Promise<void> => {
      entry = { ...entry, ...more };
      return journal.put(entry);
    };
    await journal.put(entry).catch((err: unknown) =>
      // A full disk, say: the install still runs and ends with its reason,
      // rather than the job coming back again and again.
      logger.error({ err, jobId: job.id }, 'recording the start in the journal failed'),
    );
    logger.info({ jobId: job.id, app: job.app, version: job.version }, 'install started');
    let result: InstallResult;
    // No "failing" while the release switches: the watch looks again once the install ended.
    watch.pause(job.app);
    try {
      // Loaded with the first job: an idle agent holds none of the install steps.
      const { runInstall } = await import('./install/install-pipeline.js');
      result = await runInstall(job, host, steps, {
        // A job found `running` was cut short by a crash: what it switched from, if it got that far.
        previous: seen?.state === 'running' ? seen.previous : undefined,
        reverting: seen?.state === 'running' ? seen.reverting : undefined,
        migration: seen?.state === 'running' ? seen.migration : undefined,
        rememberPrevious: (previous) => remember({ previous }),
        rememberReverting: (previous, error) => remember({ previous, reverting: { error } }),
        rememberMigration: (migration) => remember({ migration }),
      });
    } catch (err) {
      result = {
        ok: false,
        rolledBack: false,
        error: `the agent failed: ${(err as Error).message}`,
      };
      logger.error({ err, jobId: job.id }, 'install crashed');
    }
    if (!abandoned) await watch.resume(job.app);
    if (abandoned) {
      logger.warn(
        { jobId: job.id, ...result },
        'the install ended after the agent stopped waiting for it: left to resume on the next start',
      );
      // Not acknowledged: the job comes again on the next start.
      throw new Error('the agent stopped before the install ended');
    }
    try {
      await journal.put({ jobId: job.id, state: 'finished', startedAt, result });
    } catch (err) {
      // A full disk, say: the result still goes to the server, or the install
      // would stay running there and every later job would wait behind it.
      logger.error({ err, jobId: job.id }, 'recording the result in the journal failed');
    }
    busyWith = null;
    steps.emit({ type: 'job.finished', jobId: job.id, ...result });
    logger.info({ jobId: job.id, ...result }, 'install finished');
    // The job is acknowledged only once the server has its result: events live in
    // memory, and an agent restart before then would lose it.
    await transport.drain();
    // Install commands may have brought or changed a runtime: this report looks (see RuntimeProbe).
    return { factsReport: reportFactsSafely() };
  };
  const handle = async (job: Job): Promise<void> => {
    // V8 set for work, not for idling, until the job and the facts report after it
    // are done (lean-heap.ts): a lean heap collects nearly twice as often while an install
    // moves its buffers.
    const backToLean = heapAtWork();
    let factsReport: Promise<void> | undefined;
    try {
      factsReport = (await runJob(job))?.factsReport;
    } finally {
      void (factsReport ?? Promise.resolve()).finally(backToLean);
    }
  };

  rotation.start(transport);
  transport.onConnection((connected) => {
    if (!connected) return;
    void reportFactsSafely();
    // The server learns each service's present health, whatever it missed while away.
    watch.reportAll();
  });
  await watch.refresh();
  transport.start(handle);
  const heartbeat = setInterval(() => void reportFactsSafely(), options.heartbeatMs);

  return {
    hostId: identity.hostId,
    name: identity.name,
    async close() {
      clearInterval(heartbeat);
      watch.close();
      rotation.close();
      stopping.abort();
      // An install under way is given a moment to end; one that takes longer is
      // left as a crash would leave it: `running` in the journal, not
      // acknowledged, so it comes again on the next start and resumes there.
      const closed = transport.close().then(() => true);
      const waited = await Promise.race([closed, sleep(options.stopGraceMs ?? 3000, false)]);
      if (!waited) {
        abandoned = true;
        logger.warn(
          { jobId: busyWith },
          'an install is still running: it is left to resume on the next start',
        );
        // Its commands go when the process does, not before: killed now, they would
        // fail the install and its result would be written as if final.
        process.once('exit', killRunningCommands);
      } else {
        // Not while an install still uses it: its start or going back would fail
        // on a closed driver. The process exits next anyway.
        await driver.close();
      }
      await lock.release();
    },
  };
}

/** Resolves with `value` after `ms`, without holding the process open. */
function sleep<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** The server's WebSocket transport. */
async function builtinTransport(settings: BuiltinAgentTransportOptions): Promise<AgentTransport> {
  const { BuiltinAgentTransport } = await import('../transport/builtin/builtin-agent-transport.js');
  return new BuiltinAgentTransport(settings);
}

/** The RabbitMQ transport, and a line saying what this host's broker user needs. */
async function rabbitmqTransport(
  settings: { url: string; prefix: string; caFile?: string },
  hostId: string,
  logger: AgentLogger,
): Promise<AgentTransport> {
  const { Topology } = await import('../transport/rabbitmq/topology.js');
  const { RabbitmqAgentTransport } =
    await import('../transport/rabbitmq/rabbitmq-agent-transport.js');
  const { configure, write, read } = new Topology(settings.prefix).hostPermissions(hostId);
  logger.info(
    { configure, write, read },
    `jobs come from RabbitMQ; this host's own broker user needs: rabbitmqctl set_permissions <user> '${configure}' '${write}' '${read}'`,
  );
  return new RabbitmqAgentTransport({
    url: settings.url,
    prefix: settings.prefix,
    caFile: settings.caFile,
    hostId,
    logger,
  });
}

async function makeDriver(
  options: AgentOptions,
  agentDir: string,
  onRestart: (app: string) => void,
): Promise<ProcessDriver> {
  // Services' environment files (mode 0600) stay in the agent's own folder.
  const envDir = path.join(agentDir, 'env');
  switch (options.driver) {
    case 'builtin': {
      const { BuiltinDriver, reportToConsole } =
        await import('./process/builtin/builtin-driver.js');
      return new BuiltinDriver(path.join(agentDir, 'services'), {
        onEvent: (event) => {
          reportToConsole(event);
          if (event.type === 'restarted') onRestart(event.name);
        },
      });
    }
    case 'supervisord': {
      const { SupervisordDriver } = await import('./process/supervisord/supervisord-driver.js');
      return new SupervisordDriver({
        configFile: options.supervisordConfig ?? '/etc/supervisor/supervisord.conf',
        includeDir: options.supervisordInclude ?? '/etc/supervisor/conf.d',
        envDir,
      });
    }
    case 'systemd': {
      const { SystemdDriver } = await import('./process/systemd/systemd-driver.js');
      return new SystemdDriver(
        options.systemdUnitDir === undefined
          ? { envDir }
          : { unitDir: options.systemdUnitDir, envDir },
      );
    }
  }
}

/** The default PATH of commands: this Node's folder (for npm), then the system's. */
export function defaultCommandPath(): string {
  return [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
}

/** The default host name: the machine's. */
export function defaultHostName(): string {
  return os
    .hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-');
}
