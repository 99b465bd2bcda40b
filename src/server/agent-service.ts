import { randomBytes } from 'node:crypto';
import type { EnrollBody, HostRecord, InstallLogs, InstallRecord } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import { requireEnvironment } from './environments.js';
import { type AgentEvent, PROTOCOL_VERSION } from '../protocol/messages.js';
import type { Store, StoredToken } from '../store/store.js';
import type { ServerTransport } from '../transport/transport.js';
import type { BundleService } from './bundle-service.js';
import type { TokenService } from './token-service.js';
import type { VariableService } from './variable-service.js';

/** The few logging calls the service makes. */
interface Logger {
  warn(details: object, message: string): void;
}

/**
 * Hosts and their agents: enrolment, presence and facts, and single installs
 * (`ferry install`), whose steps and output the agents report as events.
 */
export class AgentService {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly bundles: BundleService,
    private readonly transport: ServerTransport,
    private readonly logger: Logger,
    private readonly variables: VariableService,
  ) {
    transport.onEvent((hostId, event) => this.handleEvent(hostId, event));
    transport.onPresence((hostId, connected) => {
      this.store
        .setHostPresence(hostId, connected, new Date().toISOString())
        .catch((err: unknown) => {
          this.logger.warn({ err, hostId }, 'recording host presence failed');
        });
    });
  }

  /**
   * Enrols a host with an enrolment token (role agent, not yet bound to a host),
   * and returns the host's own token, which the agent keeps.
   */
  async enroll(
    token: StoredToken,
    body: EnrollBody,
  ): Promise<{ hostId: string; name: string; token: string }> {
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
    if (await this.store.findHostByName(body.name)) {
      throw new FerryError('E_HOST_EXISTS', `A host named ${body.name} is already enrolled`, {
        name: body.name,
      });
    }
    const hostId = `host_${randomBytes(6).toString('hex')}`;
    await this.store.createHost({ id: hostId, ...body });
    const own = await this.tokens.create(
      { role: 'agent', env: body.env, name: `agent-${body.name}` },
      token.name,
      hostId,
    );
    return { hostId, name: body.name, token: own.token };
  }

  /** The host an agent's connection speaks for. */
  async authenticateAgent(authorization: string | undefined): Promise<string> {
    const token = await this.tokens.authenticate(authorization);
    if (!token.hostId) {
      throw new FerryError(
        'E_FORBIDDEN',
        'Only an enrolled agent may connect here: its own token is in <root>/agent',
      );
    }
    return token.hostId;
  }

  listHosts(env?: string): Promise<HostRecord[]> {
    return this.store.listHosts(env === undefined ? {} : { env });
  }

  /** Sends one bundle to one host, recorded as an install the agent reports on. */
  async install(
    createdBy: string,
    request: { app: string; version: number; host: string },
  ): Promise<InstallRecord> {
    const bundle = await this.bundles.get(request.app, request.version);
    const host = await this.store.findHostByName(request.host);
    if (!host)
      throw new FerryError('E_HOST_NOT_FOUND', `No host named ${request.host}`, {
        host: request.host,
      });
    // Every ${NAME} the manifest uses must be set for the host before anything is recorded or sent.
    const resolved = await this.variables.checkDeployable(bundle.manifest, [host]);
    const { vars, secrets } = resolved.get(host.id)!;
    const installId = `ins_${randomBytes(8).toString('hex')}`;
    await this.store.createInstall({
      id: installId,
      hostId: host.id,
      app: bundle.app,
      version: bundle.version,
      createdBy,
    });
    await this.transport.send(host.id, {
      v: PROTOCOL_VERSION,
      id: installId,
      type: 'install',
      installId,
      app: bundle.app,
      version: bundle.version,
      sha256: bundle.sha256,
      size: bundle.size,
      manifest: bundle.manifest,
      vars,
      secrets,
    });
    return this.getInstall(installId);
  }

  async getInstall(id: string): Promise<InstallRecord> {
    const install = await this.store.getInstall(id);
    if (!install) throw new FerryError('E_INSTALL_NOT_FOUND', `No install ${id}`, { id });
    return install;
  }

  async logs(id: string): Promise<InstallLogs> {
    const logs = await this.store.installLogs(id);
    if (!logs) throw new FerryError('E_INSTALL_NOT_FOUND', `No install ${id}`, { id });
    return logs;
  }

  private async handleEvent(hostId: string, event: AgentEvent): Promise<void> {
    if (event.type === 'facts') {
      await this.store.setHostFacts(hostId, event.facts, new Date().toISOString());
      return;
    }
    const install = await this.store.getInstall(event.jobId);
    if (!install || install.hostId !== hostId) {
      // Not this host's install: refuse to let one host write another's records.
      this.logger.warn(
        { hostId, jobId: event.jobId, type: event.type },
        'ignored an event for an unknown install',
      );
      return;
    }
    switch (event.type) {
      case 'step.started':
        return this.store.recordStep(install.id, {
          kind: 'started',
          step: event.step,
          at: event.at,
        });
      case 'step.output':
        return this.store.recordStep(install.id, {
          kind: 'output',
          step: event.step,
          stream: event.stream,
          seq: event.seq,
          text: event.text,
        });
      case 'step.finished':
        return this.store.recordStep(install.id, {
          kind: 'finished',
          step: event.step,
          ok: event.ok,
          exitCode: event.exitCode,
          durationMs: event.durationMs,
          error: event.error,
          at: new Date().toISOString(),
        });
      case 'job.finished':
        return this.store.finishInstall(install.id, {
          ok: event.ok,
          rolledBack: event.rolledBack,
          error: event.error,
          at: new Date().toISOString(),
        });
    }
  }
}
