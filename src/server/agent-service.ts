import { historyEvent } from './history-event.js';
import { randomBytes } from 'node:crypto';
import type {
  BundleRecord,
  ConfirmedCredential,
  EnrollBody,
  EnrollResult,
  HostRecord,
  InstallLogs,
  InstallRecord,
  RotatedCredential,
} from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import {
  hasRun,
  installStatesBefore,
  isOpenInstall,
  isStartedInstall,
  isWithdrawn,
  UNSTARTED_INSTALL_STATES,
} from '../protocol/lifecycle.js';
import { requireEnvironment } from './environments.js';
import type { InstallWanted } from '../protocol/deployment-api.js';
import type { AgentEvent } from '../protocol/messages.js';
import type { Store, StoredToken } from '../store/store.js';
import type { AgentConnectionCredential, ServerTransport } from '../transport/transport.js';
import type { BundleService } from './bundle-service.js';
import {
  assertInstallJobsFit,
  cancelledWithDeployment,
  type InstallDispatcher,
} from './deployments/install-dispatcher.js';
import { newId, reportedVersion } from './deployments/rollout-plan.js';
import type { HostFactsService } from './host-facts-service.js';
import type { EventBus } from './events/event-bus.js';
import { credentialExpired, type TokenService } from './token-service.js';
import type { VariableService } from './variable-service.js';

/** How often a replica reads which hosts were cut off (by it or another). */
const CUT_OFF_SWEEP_MS = 1000;

/** The few logging calls the service makes. */
interface Logger {
  warn(details: object, message: string): void;
}

/**
 * Hosts and their agents: enrolment, presence and facts, and single installs
 * (`ferry install`), whose steps and output the agents report as events.
 * What it records is published on the event bus by the store; what it does
 * not record (a facts report like the last, a host cut off) it tells the
 * bus's local effects (`notify`).
 */
export class AgentService {
  /** Hosts cut off, as last read: their events are dropped. */
  private cutOff = new Set<string>();
  /**
   * The first reading of `cutOff`, which every event waits for: a replica that
   * just started must not take the events of a host cut off before it did.
   * Forgotten when it fails, so that the next event reads again.
   */
  private cutOffLoaded: Promise<void> | undefined;
  /** Hosts cut off whose connection (or queue) this replica has closed, without error. */
  private readonly disconnected = new Set<string>();
  /** Reads which hosts are cut off, and closes their connections to this replica. */
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly bundles: BundleService,
    private readonly transport: ServerTransport,
    private readonly logger: Logger,
    private readonly variables: VariableService,
    private readonly dispatcher: InstallDispatcher,
    private readonly facts: HostFactsService,
    private readonly events: Pick<EventBus, 'notify' | 'withEffects'>,
    /**
     * Throws unless the bundle may enter the environment (`requireSignedBy`):
     * `ferry install` is a way in like a deployment.
     */
    private readonly checkEntry: (bundle: BundleRecord, env: string) => void = () => undefined,
  ) {
    // Read now; an event that comes first waits for it (`handleEvent`).
    this.loadCutOff().catch((err: unknown) =>
      this.logger.warn({ err }, 'reading which hosts are cut off failed'),
    );
    // An agent's message is acknowledged once what it changed has had its
    // effects here (a bundle marked failed, a deployment completed): a replica
    // that dies before they ran, or an effect that fails, leaves the message
    // to be delivered again. Not a facts report's catch-up: the next report
    // (every 30 s) looks again, and a report delivered again later would put
    // older facts over newer ones.
    transport.onEvent((hostId, event) =>
      event.type === 'facts'
        ? this.handleEvent(hostId, event)
        : this.events.withEffects(() => this.handleEvent(hostId, event)),
    );
    // Another replica may have revoked the token: every second, whatever was cut
    // off anywhere loses its connection here too.
    this.sweeper = setInterval(
      () =>
        void this.sweep().catch((err: unknown) =>
          this.logger.warn({ err }, 'reading which hosts are cut off failed'),
        ),
      CUT_OFF_SWEEP_MS,
    );
    this.sweeper.unref();
    // The same question asked on the agent's connection (the built-in transport).
    transport.onWantedQuestion?.((hostId, installId) => this.wantedOnConnection(hostId, installId));
    transport.onPresence((hostId, connected) => {
      // A change publishes host.connected or host.disconnected.
      this.store.hosts
        .setPresence(hostId, connected, new Date().toISOString())
        .catch((err: unknown) => {
          this.logger.warn({ err, hostId }, 'recording host presence failed');
        });
    });
  }

  /** Stops watching for hosts cut off elsewhere. */
  close(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Cuts a host off: it is marked revoked (with every token of its own), its
   * connection is closed, and the rollouts that wait on it are told, so that
   * they skip it instead of waiting.
   */
  async cutOffHost(hostId: string, reason: string): Promise<void> {
    await this.store.hosts.cutOff(hostId, new Date().toISOString());
    this.cutOff.add(hostId);
    await this.disconnect(hostId, reason);
    this.events.notify({ kind: 'host.cut-off', hostId });
  }

  /**
   * `ferry hosts remove`: cuts the host off and takes it out of the lists, so
   * that its name can be enrolled again. Its installs stay in the history.
   */
  async removeHost(name: string, by: string): Promise<{ id: string; name: string }> {
    const host = await this.store.hosts.findByName(name);
    if (!host) throw new FerryError('E_HOST_NOT_FOUND', `No host named ${name}`, { host: name });
    await this.store.hosts.remove(host.id, new Date().toISOString());
    // Its services' health is no one's concern any more (a host enrolled again under the name starts afresh).
    await this.store.health.forget(host.id);
    await this.store.history.record(
      historyEvent({
        type: 'host',
        by,
        env: host.env,
        detail: `removed host ${name} (${host.id})`,
      }),
    );
    this.cutOff.add(host.id);
    await this.disconnect(host.id, 'the host was removed');
    this.events.notify({ kind: 'host.cut-off', hostId: host.id });
    return { id: host.id, name };
  }

  private loadCutOff(): Promise<void> {
    this.cutOffLoaded ??= this.store.hosts.cutOffIds().then(
      (ids) => {
        for (const id of ids) this.cutOff.add(id);
      },
      (err: unknown) => {
        this.cutOffLoaded = undefined;
        throw err;
      },
    );
    return this.cutOffLoaded;
  }

  private async sweep(): Promise<void> {
    this.cutOff = new Set(await this.store.hosts.cutOffIds());
    this.cutOffLoaded ??= Promise.resolve();
    // Every host cut off, not only the connected ones: a cut-off that failed (the
    // broker was away, its queue is still there) is tried again until it succeeds.
    const connected = new Set(this.transport.connectedHosts());
    for (const hostId of this.cutOff) {
      if (!this.disconnected.has(hostId) || connected.has(hostId))
        await this.disconnect(hostId, 'the host was cut off');
    }
  }

  /**
   * Closes a cut-off host's connection. The cut-off is recorded already, so a
   * failure here (the broker away) is logged, not thrown: the host's token no
   * longer authenticates, nothing is dispatched to it, and the sweep tries again.
   */
  private async disconnect(hostId: string, reason: string): Promise<void> {
    try {
      await this.transport.disconnect(hostId, reason);
      this.disconnected.add(hostId);
    } catch (err) {
      this.logger.warn({ err, hostId }, 'closing the connection of a host cut off failed');
    }
  }

  /**
   * Enrols a host with an enrolment token (role agent, not yet bound to a host),
   * and returns the host's own credential, which the agent keeps and rotates.
   */
  async enroll(token: StoredToken, body: EnrollBody): Promise<EnrollResult> {
    if (token.role !== 'agent' || token.hostId) {
      throw new FerryError(
        'E_FORBIDDEN',
        'Enrolling needs an enrolment token: `ferry tokens create --role agent --env ENV`',
      );
    }
    if (token.env && token.env !== body.env) {
      throw new FerryError(
        'E_FORBIDDEN',
        `This enrolment token is for the ${token.env} environment, not ${body.env}`,
        {
          tokenEnv: token.env,
          env: body.env,
        },
      );
    }
    await requireEnvironment(this.store, body.env);
    if (await this.store.hosts.findByName(body.name)) {
      throw new FerryError('E_HOST_EXISTS', `A host named ${body.name} is already enrolled`, {
        name: body.name,
      });
    }
    const hostId = `host_${randomBytes(6).toString('hex')}`;
    await this.store.hosts.create({ id: hostId, ...body });
    await this.store.history.record(
      historyEvent({
        type: 'host',
        by: token.name,
        env: body.env,
        detail: `enrolled host ${body.name} (${hostId}) in ${body.env}, roles ${body.roles.join(', ')}`,
      }),
    );
    const { token: own, ...credential } = await this.tokens.issueHostCredential(
      { id: hostId, name: body.name, env: body.env },
      token.name,
    );
    return { hostId, name: body.name, token: own, credential };
  }

  /**
   * The host an agent's connection speaks for, and how to ask later whether
   * the credential it connected with still counts: a connection outlives its
   * authentication, and is closed when its credential expires or is revoked.
   */
  async authenticateAgent(authorization: string | undefined): Promise<AgentConnectionCredential> {
    const token = await this.tokens.authenticate(authorization);
    if (!token.hostId) {
      throw new FerryError(
        'E_FORBIDDEN',
        'Only an enrolled agent may connect here: its own token is in <root>/agent',
      );
    }
    return {
      hostId: token.hostId,
      problem: async () => {
        if (token.expiresAt !== null && Date.parse(token.expiresAt) <= Date.now())
          return credentialExpired(token);
        const now = await this.store.tokens.findActive(token.tokenHash);
        if (!now)
          return new FerryError(
            'E_AUTH_INVALID',
            'The credential this connection was opened with was revoked or replaced',
          );
        if (now.expiresAt !== null && Date.parse(now.expiresAt) <= Date.now())
          return credentialExpired(now);
        return undefined;
      },
    };
  }

  /** A new credential for the host whose credential made the call; see `TokenService.rotateHostCredential`. */
  async rotateCredential(token: StoredToken): Promise<RotatedCredential> {
    const rotated = await this.tokens.rotateHostCredential(token);
    await this.store.history.record(
      historyEvent({
        type: 'token',
        by: token.name,
        env: token.env,
        detail: `rotated the credential of ${token.name} (until ${rotated.expiresAt})`,
      }),
    );
    return rotated;
  }

  /**
   * The agent's word that it keeps the credential it calls with: the one it
   * replaced no longer counts (authenticating it did that), and this answers its times.
   */
  confirmCredential(token: StoredToken): Promise<ConfirmedCredential> {
    if (token.hostId === null || token.expiresAt === null) {
      return Promise.reject(
        new FerryError(
          'E_FORBIDDEN',
          "Only a host's own expiring credential is confirmed: rotate it first (`POST /agent/credential`)",
          { needs: ['agent'], has: token.role },
        ),
      );
    }
    return Promise.resolve(this.tokens.credentialTimes(new Date(token.expiresAt)));
  }

  listHosts(env?: string): Promise<HostRecord[]> {
    return this.store.hosts.list(env === undefined ? {} : { env });
  }

  /** Sends one bundle to one host, recorded as an install the agent reports on. */
  async install(
    createdBy: string,
    request: { app: string; version: number; host: string },
  ): Promise<InstallRecord> {
    const bundle = await this.bundles.get(request.app, request.version);
    const host = await this.store.hosts.findByName(request.host);
    if (!host)
      throw new FerryError('E_HOST_NOT_FOUND', `No host named ${request.host}`, {
        host: request.host,
      });
    // The signatures the host's environment requires, as for a deployment into it.
    this.checkEntry(bundle, host.env);
    // Every ${NAME} the manifest uses must be set for the host before anything is recorded or sent.
    const resolved = await this.variables.checkDeployable(bundle.manifest, [host], bundle.app);
    if (!resolved.has(host.id)) throw new Error('variables were not resolved for the host');
    assertInstallJobsFit(bundle, [host], resolved);
    const installId = newId('ins');
    // Recorded `pending` (not yet sent): the dispatcher records its sending
    // before the job goes, so a server that dies in between leaves a record
    // that says the job may have gone, never a sent job unrecorded.
    await this.store.installs.create({
      id: installId,
      hostId: host.id,
      app: bundle.app,
      version: bundle.version,
      createdBy,
      fromVersion: reportedVersion(host, bundle.app),
      state: 'pending',
    });
    const install = await this.store.installs.get(installId);
    if (install) await this.dispatcher.send(install, bundle, host);
    return this.getInstall(installId);
  }

  /**
   * What an agent asks before it starts a job it has not seen: whether the server
   * still wants it. Not when the rollout gave up on the host (it was offline; it
   * catches up to whatever is desired now instead), nor when the deployment was
   * cancelled or stopped before it — also when the deployment's cancel has not
   * reached the install yet (it is then cancelled here).
   *
   * "Go ahead" is recorded as the start of the job (`running`, with `startedAt`),
   * in the same conditional update that checks it is still wanted: from then on
   * the host has the job, as if it had reported its first step. A rollout that
   * gives up on it afterwards never hands its migrations to another host
   * (`migratingInstall`), and one that gave up first gets a "no" here.
   */
  wanted(token: StoredToken, installId: string): Promise<InstallWanted> {
    return this.wantedBy(token.hostId, installId);
  }

  /**
   * `wanted`, asked on a host's connection (authenticated when it opened, and
   * closed when its credential stops counting): a host cut off meanwhile is
   * refused, as its token would be over HTTP.
   */
  private async wantedOnConnection(hostId: string, installId: string): Promise<InstallWanted> {
    await this.loadCutOff();
    if (this.cutOff.has(hostId))
      throw new FerryError('E_AUTH_INVALID', 'This host was cut off: it gets nothing more');
    return this.wantedBy(hostId, installId);
  }

  private async wantedBy(hostId: string | null, installId: string): Promise<InstallWanted> {
    // One read by its key (its steps are not needed): a thousand agents ask at once.
    const install = await this.store.installs.get(installId, { steps: false });
    if (!install || install.hostId !== hostId) {
      throw new FerryError('E_INSTALL_NOT_FOUND', `No install ${installId} for this host`, {
        id: installId,
      });
    }
    if (isOpenInstall(install.state)) {
      // Its deployment cancelled, the cancel not yet recorded on the install:
      // not begun, so it is not begun now. (A cancel records both in one step.)
      const cancelled = isStartedInstall(install.state)
        ? null
        : await cancelledWithDeployment(this.store, install);
      if (cancelled !== null) {
        await this.store.installs.mark(
          installId,
          { state: 'cancelled', error: cancelled },
          installStatesBefore('cancelled').filter((s) => UNSTARTED_INSTALL_STATES.includes(s)),
        );
        return this.wantedBy(hostId, installId);
      }
      const told =
        isStartedInstall(install.state) ||
        (await this.store.installs.mark(
          installId,
          { state: 'running', startedAt: new Date().toISOString() },
          [...UNSTARTED_INSTALL_STATES],
        ));
      if (told) return { proceed: true, reason: null };
      // Moved since it was read (given up on, cancelled, or started elsewhere): read it again.
      return this.wantedBy(hostId, installId);
    }
    if (hasRun(install.state)) {
      return { proceed: false, reason: `the install has already ${install.state}` };
    }
    // Skipped or cancelled: the server gave up on it, or a person stopped it.
    return { proceed: false, reason: install.error ?? `the install is ${install.state}` };
  }

  /**
   * Whether an agent token may download a bundle: only a host's own token, and
   * only a bundle of an install the server has sent that host (its `sentAt`,
   * written just before the job goes, so a job that reaches the agent at once is
   * covered) and not skipped or cancelled since. An install still pending in a
   * later batch, or one that failed before it was sent (`E_JOB_TOO_LARGE`, a
   * variable gone), gives no access. An enrolment token speaks for no host yet,
   * so it downloads nothing.
   */
  async authorizeDownload(token: StoredToken, app: string, version: number): Promise<void> {
    if (token.hostId === null) {
      throw new FerryError(
        'E_FORBIDDEN',
        'An enrolment token downloads no bundle: a host fetches bundles with its own token, once it has been sent a job for them',
        { needs: ['admin', 'deployer', 'qa'], has: 'agent' },
      );
    }
    const installs = await this.store.installs.list({ hostId: token.hostId, app, version });
    const sent = installs.some((install) => install.sentAt !== null && !isWithdrawn(install.state));
    if (!sent) {
      throw new FerryError(
        'E_FORBIDDEN',
        `This host has been sent no job for ${app}@${version}: an agent downloads only the bundles it is to install`,
        { needs: ['admin', 'deployer', 'qa'], has: 'agent', app, version },
      );
    }
  }

  async getInstall(id: string): Promise<InstallRecord> {
    const install = await this.store.installs.get(id);
    if (!install) throw new FerryError('E_INSTALL_NOT_FOUND', `No install ${id}`, { id });
    return install;
  }

  async logs(id: string): Promise<InstallLogs> {
    const logs = await this.store.installs.logs(id);
    if (!logs) throw new FerryError('E_INSTALL_NOT_FOUND', `No install ${id}`, { id });
    return logs;
  }

  private async handleEvent(hostId: string, event: AgentEvent): Promise<void> {
    await this.loadCutOff();
    if (this.cutOff.has(hostId)) {
      this.logger.warn({ hostId, type: event.type }, 'dropped an event from a host cut off');
      return;
    }
    if (event.type === 'facts') {
      // A report that is not valid is logged and refused there; the host keeps its facts.
      // Every report, changed or not (a change is also a host.facts event): catch-up looks again.
      const facts = await this.facts.report(hostId, event.facts);
      if (facts) this.events.notify({ kind: 'host.reported', hostId, facts });
      return;
    }
    if (event.type === 'health') {
      // Kept as the service's present health; a change is a host.health event (the evented store).
      // `at` is the server's clock: `since` stays the agent's, as it saw the state begin;
      // the agent's own `at` orders its reports (one older than the kept is refused).
      await this.store.health.record({
        hostId,
        app: event.app,
        version: event.version,
        state: event.state,
        since: event.since,
        answer: event.answer,
        restarts: event.restarts,
        at: new Date().toISOString(),
        agentAt: event.at,
      });
      return;
    }
    if (event.type === 'step.started' || event.type === 'step.finished') {
      // Twenty of these per install: whose it is is checked in the write's own
      // transaction, with no read before it.
      const change = await this.store.installs.recordStep(
        event.jobId,
        event.type === 'step.started'
          ? { kind: 'started', step: event.step, at: event.at }
          : {
              kind: 'finished',
              step: event.step,
              ok: event.ok,
              exitCode: event.exitCode,
              durationMs: event.durationMs,
              error: event.error,
              at: new Date().toISOString(),
            },
        hostId,
      );
      if (!change) this.ignored(hostId, event);
      return;
    }
    // Whose it is and its state: its steps are not needed here.
    const install = await this.store.installs.get(event.jobId, { steps: false });
    if (!install || install.hostId !== hostId) {
      this.ignored(hostId, event);
      return;
    }
    switch (event.type) {
      case 'step.output':
        await this.store.installs.recordStep(install.id, {
          kind: 'output',
          step: event.step,
          stream: event.stream,
          seq: event.seq,
          text: event.text,
        });
        return;
      case 'job.finished':
        // A job the agent declined (the server no longer wanted it) keeps the
        // state the server gave it. The install's end is an install.state
        // event, once, however often the agent reports it.
        if (event.declined) return;
        // Reported again: the end is recorded, but the replica that recorded it
        // may have died before its effects ran, so they run again (idempotent).
        if (hasRun(install.state)) {
          this.events.notify({ kind: 'install.finished-again', installId: install.id });
          return;
        }
        await this.store.installs.finish(install.id, {
          ok: event.ok,
          rolledBack: event.rolledBack,
          error: event.error,
          at: new Date().toISOString(),
        });
    }
  }

  /** An event for an install that is not this host's: refused, so that one host cannot write another's records. */
  private ignored(hostId: string, event: { jobId: string; type: string }): void {
    this.logger.warn(
      { hostId, jobId: event.jobId, type: event.type },
      "ignored an event for an install that does not exist or is not this host's",
    );
  }
}
