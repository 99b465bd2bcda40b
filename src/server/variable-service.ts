import { historyEvent } from './history-event.js';
import { commandReferences, referencedVariables } from '../bundle/variable-references.js';
import type {
  HostRecord,
  VariableRecord,
  VariableScopeQuery,
  VariableSetBody,
  VariableSetResult,
} from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { Store, StoredToken, StoredVariable, VariableScope } from '../store/store.js';
import { requireEnvironment } from './environments.js';

/** The variables one host gets: values by name, and which of them are secret. */
export interface ResolvedVariables {
  vars: Record<string, string>;
  /** Names whose value is secret: the agent masks those values in what it reports. */
  secrets: string[];
}

/** Two roles of one host that disagree on a variable. */
interface Ambiguity {
  variable: string;
  roles: string[];
}

/** A resolution that does not throw: what it found, and what it could not settle. */
interface Resolution extends ResolvedVariables {
  ambiguous: Ambiguity[];
}

/**
 * Variables for `${NAME}` in manifests, set on the server per scope, and their
 * resolution for one host. The narrowest scope wins:
 *
 *   host (`ferry vars set --host`) > the host's enrolment `--var`s > role > env > global
 *
 * A host with several roles: if two of them set a variable to different values
 * (and no host-scoped value settles it), resolving it is `E_VARIABLE_AMBIGUOUS`
 * naming the roles — Ferry does not guess by role order.
 *
 * Secret values leave this service only through `resolveFor` / `checkDeployable`,
 * which feed install jobs; every answer to a client shows a secret's value as null.
 *
 * @example
 *   await variables.set(token, { name: 'REDIS_HOST', value: 'redis.qa', env: 'qa', secret: false });
 *   const { vars, secrets } = await variables.resolveFor(host, ['REDIS_HOST']);
 */
export class VariableService {
  constructor(
    private readonly store: Store,
    /** Whether only admins may change an environment's variables (prod, by default). */
    private readonly isProtected: (env: string) => boolean = (env) => env === 'prod',
  ) {}

  /** Sets a variable; a secret stays secret when set again without `secret`. */
  async set(token: StoredToken, body: VariableSetBody): Promise<VariableSetResult> {
    const scope = scopeOf(body);
    await this.authorizeChange(token, scope, true);
    const existing = await this.store.getVariable(body.name, scope);
    const variable: StoredVariable = {
      name: body.name,
      scope,
      value: body.value,
      // Setting a secret again without --secret must not make its value readable.
      secret: body.secret || (existing?.secret ?? false),
      updatedAt: new Date().toISOString(),
      updatedBy: token.name,
    };
    const { created } = await this.store.setVariable(variable);
    // The name and the scope, never the value: the history is read by everyone.
    await this.store.recordHistoryEvent(
      historyEvent({
        type: 'variable',
        by: token.name,
        env: scope.kind === 'env' ? scope.value : null,
        detail: `${created ? 'set' : 'changed'} ${variable.secret ? 'secret ' : ''}${body.name} ${describeScope(scope)}`,
      }),
    );
    return { created, variable: toRecord(variable) };
  }

  /** Removes a variable from one scope; `E_VARIABLE_NOT_FOUND` when it is not set there. */
  async unset(token: StoredToken, name: string, query: VariableScopeQuery): Promise<void> {
    const scope = scopeOf(query);
    await this.authorizeChange(token, scope, false);
    if (!(await this.store.unsetVariable(name, scope))) {
      throw new FerryError(
        'E_VARIABLE_NOT_FOUND',
        `No variable ${name} is set ${describeScope(scope)}`,
        { variable: name, scope: scope.kind, target: targetOf(scope) },
      );
    }
    await this.store.recordHistoryEvent(
      historyEvent({
        type: 'variable',
        by: token.name,
        env: scope.kind === 'env' ? scope.value : null,
        detail: `unset ${name} ${describeScope(scope)}`,
      }),
    );
  }

  /** Variables as a client may see them: all, or those of one scope. */
  async list(query: VariableScopeQuery = {}): Promise<VariableRecord[]> {
    const filtered =
      query.env !== undefined || query.role !== undefined || query.host !== undefined;
    const variables = await this.store.listVariables(filtered ? { scopes: [scopeOf(query)] } : {});
    return variables.map(toRecord);
  }

  /**
   * The variables of one host, each from the narrowest scope that sets it. With
   * `names`, only those, and a name no scope sets is `E_VARIABLE_MISSING`; without,
   * every variable that applies to the host. Two roles that disagree on a variable
   * asked for are `E_VARIABLE_AMBIGUOUS`.
   */
  async resolveFor(host: HostRecord, names?: string[]): Promise<ResolvedVariables> {
    const resolution = await this.resolve(host, names);
    const missing = absentFrom(resolution, names ?? []);
    if (missing.length > 0) throw missingError([{ host: host.name, missing }]);
    if (resolution.ambiguous.length > 0) {
      throw ambiguousError([{ host: host.name, ambiguous: resolution.ambiguous }]);
    }
    return { vars: resolution.vars, secrets: resolution.secrets };
  }

  /**
   * Checks, before any host is touched, that every `${NAME}` in an app's manifest
   * section is set for every target host and that no host's roles disagree on a
   * variable it gets. Throws `E_VARIABLE_MISSING` naming each missing variable and
   * the hosts that miss it (or else `E_VARIABLE_AMBIGUOUS`, or else
   * `E_SECRET_IN_COMMAND` when a command line would carry a variable that is
   * secret for some host: any local user reads a process's arguments); otherwise
   * returns each host's variables by host id, ready for its install job.
   */
  async checkDeployable(
    manifest: Record<string, unknown>,
    hosts: HostRecord[],
  ): Promise<Map<string, ResolvedVariables>> {
    const referenced = referencedVariables(manifest);
    const inCommands = commandReferences(manifest);
    const resolved = new Map<string, ResolvedVariables>();
    const missing: { host: string; missing: string[] }[] = [];
    const ambiguous: { host: string; ambiguous: Ambiguity[] }[] = [];
    const secretInCommand = new Map<string, { where: Set<string>; hosts: string[] }>();
    for (const host of hosts) {
      const resolution = await this.resolve(host);
      const absent = absentFrom(resolution, referenced);
      if (absent.length > 0) missing.push({ host: host.name, missing: absent });
      if (resolution.ambiguous.length > 0)
        ambiguous.push({ host: host.name, ambiguous: resolution.ambiguous });
      const secrets = new Set(resolution.secrets);
      for (const variable of new Set(inCommands.map((r) => r.variable))) {
        if (!secrets.has(variable)) continue;
        const entry = secretInCommand.get(variable) ?? {
          where: new Set(inCommands.filter((r) => r.variable === variable).map((r) => r.where)),
          hosts: [],
        };
        entry.hosts.push(host.name);
        secretInCommand.set(variable, entry);
      }
      resolved.set(host.id, { vars: resolution.vars, secrets: resolution.secrets });
    }
    if (missing.length > 0) throw missingError(missing);
    if (ambiguous.length > 0) throw ambiguousError(ambiguous);
    if (secretInCommand.size > 0) throw secretInCommandError(secretInCommand);
    return resolved;
  }

  private async resolve(host: HostRecord, names?: string[]): Promise<Resolution> {
    const scopes: VariableScope[] = [
      { kind: 'global' },
      { kind: 'env', value: host.env },
      ...host.roles.map((role): VariableScope => ({ kind: 'role', value: role })),
      { kind: 'host', value: host.name },
    ];
    const wanted = names && new Set(names);
    const rows = (await this.store.listVariables({ scopes })).filter(
      (v) => !wanted || wanted.has(v.name),
    );
    const byName = new Map<string, StoredVariable[]>();
    for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
    for (const name of Object.keys(host.vars)) {
      if ((!wanted || wanted.has(name)) && !byName.has(name)) byName.set(name, []);
    }

    const resolution: Resolution = { vars: {}, secrets: [], ambiguous: [] };
    for (const [name, candidates] of byName) {
      const of = (kind: VariableScope['kind']) => candidates.filter((c) => c.scope.kind === kind);
      const [hostScoped] = of('host');
      if (hostScoped) {
        take(resolution, hostScoped);
        continue;
      }
      // The host's own `--var`s, given at enrolment, count as host scope, below
      // what `ferry vars set --host` sets: that one can be changed on the server
      // without re-enrolling the host.
      const enrolled = host.vars[name];
      if (enrolled !== undefined) {
        resolution.vars[name] = enrolled;
        continue;
      }
      const roles = of('role');
      if (new Set(roles.map((r) => r.value)).size > 1) {
        resolution.ambiguous.push({
          variable: name,
          roles: roles.flatMap((r) => targetOf(r) ?? []).sort(),
        });
        continue;
      }
      const [chosen] = [...roles, ...of('env'), ...of('global')];
      // Roles that agree: the value is secret if any of them keeps it secret.
      if (chosen)
        take(resolution, { ...chosen, secret: roles.some((r) => r.secret) || chosen.secret });
    }
    resolution.secrets.sort();
    return resolution;
  }

  /**
   * Who may change a variable: an admin anywhere; a deployer outside the
   * protected environments (prod, by default) — an env scope of another one, or a
   * host in another one — and, with a token bound to an environment, only there. Global and
   * role scopes reach prod hosts, so they are the admin's.
   */
  private async authorizeChange(
    token: StoredToken,
    scope: VariableScope,
    setting: boolean,
  ): Promise<void> {
    if (scope.kind === 'env' && setting) await requireEnvironment(this.store, scope.value);
    let env: string | undefined;
    if (scope.kind === 'env') env = scope.value;
    if (scope.kind === 'host') {
      const host = await this.store.findHostByName(scope.value);
      if (!host && (setting || token.role !== 'admin')) {
        throw new FerryError('E_HOST_NOT_FOUND', `No host named ${scope.value}`, {
          host: scope.value,
        });
      }
      env = host?.env;
    }
    if (token.role === 'admin') return;
    const refuse = (why: string) =>
      new FerryError(
        'E_FORBIDDEN',
        `${why} needs a token with the admin role; yours has the ${token.role} role`,
        { needs: ['admin'], has: token.role },
      );
    if (token.role !== 'deployer') {
      throw new FerryError(
        'E_FORBIDDEN',
        `Changing variables needs a token with the admin or deployer role; yours has the ${token.role} role`,
        { needs: ['admin', 'deployer'], has: token.role },
      );
    }
    if (env === undefined) {
      throw refuse(`Changing a ${scope.kind} variable (it reaches every environment)`);
    }
    if (this.isProtected(env)) {
      throw refuse(`Changing a variable ${describeScope(scope)} (in ${env})`);
    }
    if (token.env !== null && token.env !== env) {
      throw new FerryError(
        'E_FORBIDDEN',
        `This token is for the ${token.env} environment; ${describeScope(scope)} is in ${env}`,
        { tokenEnv: token.env, env },
      );
    }
  }
}

/** The names no scope sets (a name two roles disagree on is ambiguous, not absent). */
function absentFrom(resolution: Resolution, names: string[]): string[] {
  const ambiguous = new Set(resolution.ambiguous.map((a) => a.variable));
  return [...new Set(names)]
    .filter((n) => !Object.hasOwn(resolution.vars, n) && !ambiguous.has(n))
    .sort();
}

function take(resolution: Resolution, variable: StoredVariable): void {
  resolution.vars[variable.name] = variable.value;
  if (variable.secret) resolution.secrets.push(variable.name);
}

/** The scope a body or query names: at most one of env, role, host (the schema checks that). */
export function scopeOf(query: VariableScopeQuery): VariableScope {
  if (query.env !== undefined) return { kind: 'env', value: query.env };
  if (query.role !== undefined) return { kind: 'role', value: query.role };
  if (query.host !== undefined) return { kind: 'host', value: query.host };
  return { kind: 'global' };
}

function targetOf(scope: VariableScope | StoredVariable): string | null {
  const s = 'scope' in scope ? scope.scope : scope;
  return s.kind === 'global' ? null : s.value;
}

function describeScope(scope: VariableScope): string {
  return scope.kind === 'global' ? 'globally' : `for ${scope.kind} ${scope.value}`;
}

/** What a client may see of a variable: never a secret's value. */
function toRecord(variable: StoredVariable): VariableRecord {
  return {
    name: variable.name,
    scope: variable.scope.kind,
    target: targetOf(variable.scope),
    value: variable.secret ? null : variable.value,
    secret: variable.secret,
    updatedAt: variable.updatedAt,
    updatedBy: variable.updatedBy,
  };
}

function missingError(per: { host: string; missing: string[] }[]): FerryError {
  const hostsOf = new Map<string, string[]>();
  for (const { host, missing } of per)
    for (const name of missing) hostsOf.set(name, [...(hostsOf.get(name) ?? []), host]);
  const missing = [...hostsOf].sort(([a], [b]) => (a < b ? -1 : 1));
  const text = missing.map(([name, hosts]) => `\${${name}} (on ${hosts.join(', ')})`).join(', ');
  return new FerryError(
    'E_VARIABLE_MISSING',
    `The manifest uses variables no scope sets for some hosts: ${text}. Nothing was sent to any host`,
    {
      variables: missing.map(([name]) => name),
      missing: missing.map(([variable, hosts]) => ({ variable, hosts })),
    },
  );
}

function ambiguousError(per: { host: string; ambiguous: Ambiguity[] }[]): FerryError {
  const text = per
    .flatMap(({ host, ambiguous }) =>
      ambiguous.map((a) => `${a.variable} on ${host} (roles ${a.roles.join(' and ')})`),
    )
    .join(', ');
  return new FerryError(
    'E_VARIABLE_AMBIGUOUS',
    `Roles of one host set a variable to different values: ${text}. Nothing was sent to any host`,
    { ambiguous: per },
  );
}

function secretInCommandError(
  found: Map<string, { where: Set<string>; hosts: string[] }>,
): FerryError {
  const secrets = [...found]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([variable, { where, hosts }]) => ({ variable, where: [...where], hosts }));
  const text = secrets
    .map(({ variable, where }) => `\${${variable}} in ${where.join(', ')}`)
    .join('; ');
  return new FerryError(
    'E_SECRET_IN_COMMAND',
    `The manifest puts secret variables into command lines, where any user of the host can read them (ps): ${text}. ` +
      'Pass a secret through service.env (such as `env: { NAME: "${NAME}" }`) and read $NAME from the environment instead. Nothing was sent to any host',
    { variables: secrets.map((s) => s.variable), secrets },
  );
}
