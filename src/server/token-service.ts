import { historyEvent } from './history-event.js';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import type { Role, TokenCreateBody, TokenRecord } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import { requireEnvironment } from './environments.js';
import type { Store, StoredToken } from '../store/store.js';
import type { EventBus } from './events/event-bus.js';

/** How often a token's `lastUsedAt` is written, at most. */
const TOUCH_INTERVAL_MS = 60_000;

/** How long a host's own credential lives, and when it is rotated; see `hosts` in the server's config. */
export interface HostCredentialSettings {
  /** A credential's life from when it is made. */
  lifetimeMs: number;
  /** The share of its life left when the agent is told to rotate it (a third). */
  rotateWhenLeft: number;
  /** How long the old credential still counts after rotation, unless the new one is confirmed first. */
  graceMs: number;
}

/** 30 days, rotated with 10 left, the old one kept an hour at most. */
export const DEFAULT_HOST_CREDENTIALS: HostCredentialSettings = {
  lifetimeMs: 30 * 86_400_000,
  rotateWhenLeft: 1 / 3,
  graceMs: 3_600_000,
};

/** A host's own credential as the agent is given it. */
export interface IssuedCredential {
  token: string;
  /** When it stops counting. */
  expiresAt: string;
  /** When the agent is to rotate it. */
  rotateAt: string;
}

/** A new token's secret and the hash the store keeps of it. */
function newSecret(role: Role): { token: string; tokenHash: string } {
  const token = `ferry_${role}_${randomBytes(32).toString('base64url')}`;
  return { token, tokenHash: hashToken(token) };
}

function newTokenId(): string {
  return `tok_${randomBytes(6).toString('hex')}`;
}

/** The sha256 of a token's secret: the only form the store keeps. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Makes, checks and revokes API tokens. A token is `ferry_<role>_<43 random
 * characters>`: 256 bits of randomness, so a plain sha256 is a safe way to store it.
 */
export class TokenService {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly events: Pick<EventBus, 'notify' | 'withEffects'>,
    private readonly hostCredentials: HostCredentialSettings = DEFAULT_HOST_CREDENTIALS,
  ) {}

  /** Makes a token; `hostId` binds an agent's own token to its host. */
  async create(
    body: TokenCreateBody,
    createdBy: string | null,
    hostId: string | null = null,
    expiresAt: string | null = null,
  ): Promise<TokenRecord & { token: string }> {
    if (body.env !== undefined) {
      await requireEnvironment(this.store, body.env);
    }
    const { token, tokenHash } = newSecret(body.role);
    const id = newTokenId();
    const record = await this.store.tokens.create({
      id,
      name: body.name ?? `${body.role}${body.env ? `-${body.env}` : ''}-${id.slice(4, 10)}`,
      role: body.role,
      env: body.env ?? null,
      tokenHash,
      createdBy,
      hostId,
      expiresAt,
    });
    await this.store.history.record(
      historyEvent({
        type: 'token',
        by: createdBy ?? 'ferry',
        env: record.env,
        detail: `created token ${record.name} (role ${record.role}${record.env ? `, env ${record.env}` : ''})`,
      }),
    );
    return { ...record, token };
  }

  /** The token behind an `Authorization` header, or a 401 that says what is wrong. */
  async authenticate(header: string | undefined): Promise<StoredToken> {
    if (!header) {
      throw new FerryError(
        'E_AUTH_REQUIRED',
        'This call needs an API token: send "Authorization: Bearer <token>" (with the ferry CLI: --token, FERRY_TOKEN or `ferry login`)',
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new FerryError('E_AUTH_REQUIRED', 'The Authorization header must be "Bearer <token>"');
    }
    return this.authenticateSecret(match[1]!);
  }

  /**
   * The token of a secret itself (a person signing in to the dashboard), or
   * the 401 a bearer call with it would get. The message never repeats it.
   */
  async authenticateSecret(secret: string): Promise<StoredToken> {
    const token = await this.store.tokens.findActive(hashToken(secret));
    if (!token) {
      throw new FerryError(
        'E_AUTH_INVALID',
        'The API token is not valid on this server (mistyped, revoked, or made by another server): ask an admin for a new one',
      );
    }
    if (token.expiresAt !== null && Date.parse(token.expiresAt) <= Date.now()) {
      throw credentialExpired(token);
    }
    // A rotated credential's first use is its agent's word that it keeps it:
    // the one it replaces is retired now (its grace is for an agent that never got it).
    if (token.replaces !== null) {
      await this.store.tokens.confirm(token.id);
      token.replaces = null;
    }
    await this.used(token);
    return token;
  }

  /** A new host's own credential, made at its enrolment. */
  async issueHostCredential(
    host: { id: string; name: string; env: string },
    createdBy: string,
  ): Promise<IssuedCredential> {
    const expiresAt = this.credentialEnd();
    const own = await this.create(
      { role: 'agent', env: host.env, name: `agent-${host.name}` },
      createdBy,
      host.id,
      expiresAt.toISOString(),
    );
    return { token: own.token, ...this.credentialTimes(expiresAt) };
  }

  /**
   * Rotates the host credential a call was made with: a new one is made, the
   * old one counts on until the new one's first use (its confirmation) or the
   * grace ends, whichever is first. An earlier successor never used (its agent
   * crashed before keeping it) is revoked. Asked again with the old one, it
   * makes another: the agent keeps whichever it got last.
   */
  async rotateHostCredential(token: StoredToken): Promise<IssuedCredential> {
    if (token.role !== 'agent' || token.hostId === null) {
      throw new FerryError(
        'E_FORBIDDEN',
        "Only a host's own credential is rotated: an enrolment token enrols, and people's tokens do not expire",
        { needs: ['agent'], has: token.role },
      );
    }
    const { token: secret, tokenHash } = newSecret('agent');
    const expiresAt = this.credentialEnd();
    const graceEnd = new Date(Date.now() + this.hostCredentials.graceMs).toISOString();
    const made = await this.store.tokens.rotate(
      token.id,
      {
        id: newTokenId(),
        name: token.name,
        role: 'agent',
        env: token.env,
        tokenHash,
        createdBy: token.name,
        hostId: token.hostId,
        expiresAt: expiresAt.toISOString(),
      },
      graceEnd,
    );
    if (!made) {
      throw new FerryError(
        'E_AUTH_INVALID',
        'This host credential was revoked while it was being rotated: the host was cut off or removed',
      );
    }
    return { token: secret, ...this.credentialTimes(expiresAt) };
  }

  /** When a host credential is to end and be rotated, as the agent is told. */
  credentialTimes(expiresAt: Date): { expiresAt: string; rotateAt: string } {
    const { lifetimeMs, rotateWhenLeft } = this.hostCredentials;
    return {
      expiresAt: expiresAt.toISOString(),
      rotateAt: new Date(expiresAt.getTime() - lifetimeMs * rotateWhenLeft).toISOString(),
    };
  }

  private credentialEnd(): Date {
    return new Date(Date.now() + this.hostCredentials.lifetimeMs);
  }

  /** Records that a token was used (`lastUsedAt`), at most once a minute per token. */
  async used(token: StoredToken): Promise<void> {
    const now = Date.now();
    if (now - (this.touched.get(token.id) ?? 0) > TOUCH_INTERVAL_MS) {
      this.touched.set(token.id, now);
      await this.store.tokens.touch(token.id, new Date(now).toISOString());
    }
  }

  /**
   * Revokes a token. A host's own token cuts the host off at once: the
   * `host.revoked` notice's effect (the agents' service) has run when this
   * returns, and other replicas close its connection within a second.
   */
  async revoke(id: string, by: string): Promise<void> {
    // A row revoked before (a host credential its rotation retired) stays so, and
    // revoking it again changes nothing: it must not cut off the host that now
    // holds its successor.
    const before = await this.store.tokens.get(id);
    if (before?.revokedAt) return;
    if (!(await this.store.tokens.revoke(id))) {
      throw new FerryError('E_TOKEN_NOT_FOUND', `No token with id ${id}`, { id });
    }
    this.touched.delete(id);
    // Whatever was opened with it and is still open here (an event stream) ends now.
    this.events.notify({ kind: 'token.revoked', tokenId: id });
    const revoked = await this.store.tokens.get(id);
    await this.store.history.record(
      historyEvent({
        type: 'token',
        by,
        env: revoked?.env ?? null,
        detail: `revoked token ${revoked?.name ?? id} (role ${revoked?.role ?? 'unknown'})`,
      }),
    );
    const hostId = revoked?.hostId;
    if (hostId) {
      await this.events.withEffects(() =>
        Promise.resolve(this.events.notify({ kind: 'host.revoked', hostId })),
      );
    }
  }

  /** Tokens, oldest first; host credentials their rotation replaced only with `all`. */
  list(options: { all?: boolean } = {}): Promise<TokenRecord[]> {
    return this.store.tokens.list(options);
  }

  /**
   * On a server's first start (no tokens at all), makes the admin token and writes
   * it to `file` with mode 0600. Returns true when it did.
   */
  async bootstrapAdmin(file: string): Promise<boolean> {
    if ((await this.store.tokens.list()).length > 0) return false;
    // The secret goes to a file before its record exists, so that no token is
    // made that nobody can read; the record is made only if no other replica
    // made the first token meanwhile, and only then does the file take its name.
    const { token, tokenHash } = newSecret('admin');
    const partial = `${file}.partial-${process.pid}`;
    await writeFile(partial, `${token}\n`, { mode: 0o600 });
    await chmod(partial, 0o600);
    const created = await this.store.tokens
      .createFirst({
        id: newTokenId(),
        name: 'admin',
        role: 'admin',
        env: null,
        tokenHash,
        createdBy: null,
      })
      .catch(async (err: unknown) => {
        await rm(partial, { force: true });
        throw err;
      });
    if (!created) {
      await rm(partial, { force: true });
      return false;
    }
    await rename(partial, file);
    return true;
  }
}

/**
 * The 401 of a host credential that expired: its agent was away (or cut off
 * from the server) for longer than the credential's life, so nothing can
 * vouch for it any more but a new enrolment.
 */
export function credentialExpired(
  token: Pick<StoredToken, 'name' | 'env' | 'expiresAt'>,
): FerryError {
  const host = token.name.replace(/^agent-/, '');
  return new FerryError(
    'E_CREDENTIAL_EXPIRED',
    `The credential of host ${host} expired at ${token.expiresAt ?? '?'}: its agent did not rotate it in time. Enrol the host again with a join string: \`ferry hosts remove ${host}\`, delete <root>/agent/identity.json, and start the agent with \`--join-file FILE\`, FILE (mode 0600) holding the join string \`ferry tokens create --role agent --env ${token.env ?? 'ENV'}\` prints`,
    { host, expiresAt: token.expiresAt },
  );
}

/** Throws a 403 naming the roles that may make this call, unless `role` is one of them. */
export function requireRole(token: { role: Role }, ...allowed: Role[]): void {
  if (!allowed.includes(token.role)) {
    throw new FerryError(
      'E_FORBIDDEN',
      `This call needs a token with the ${allowed.join(' or ')} role; yours has the ${token.role} role`,
      { needs: allowed, has: token.role },
    );
  }
}
