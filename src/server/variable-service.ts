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

/**
 * Two scopes that set a variable for one host to different values, with
 * neither narrower in both ways: two of its roles, or a value for the app in a
 * wider scope and one for every app in a narrower scope.
 */
interface Ambiguity {
  variable: string;
  /** The host's roles that disagree; empty for a pair of another kind. */
  roles: string[];
  /** The two (or more) scopes, described: `env qa for app cart`, `host web-1`. */
  scopes: string[];
}

/** A resolution that does not throw: what it found, and what it could not settle. */
interface Resolution extends ResolvedVariables {
  ambiguous: Ambiguity[];
}

/**
 * Variables for `${NAME}` in manifests, set on the server per scope, and their
 * resolution for one host and app. The narrowest scope wins, and within one
 * scope a value for the app (`--app cart`) wins over one for every app:
 *
 *   host+app > host > the host's enrolment `--var`s > role+app > role > env+app > env > app > global
 *
 * Ambiguous, and so `E_VARIABLE_AMBIGUOUS` naming both: two roles of the host
 * that set a variable to different values (and no host-scoped value settles
 * it); and a value for the app in a wider scope beside a different value for
 * every app in a narrower one (`PORT --app cart --env qa` and an enrolment
 * `--var PORT`) — which one was meant, Ferry does not guess.
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
    const existing = await this.store.variables.get(body.name, scope);
    const variable: StoredVariable = {
      name: body.name,
      scope,
      value: body.value,
      // Setting a secret again without --secret must not make its value readable.
      secret: body.secret || (existing?.secret ?? false),
      updatedAt: new Date().toISOString(),
      updatedBy: token.name,
    };
    const { created } = await this.store.variables.set(variable);
    // The name and the scope, never the value: the history is read by everyone.
    await this.store.history.record(
      historyEvent({
        type: 'variable',
        by: token.name,
        env: scope.kind === 'env' ? scope.value : null,
        // So that `ferry history <app>` shows the variables of that app.
        app: scope.app ?? null,
        detail: `${created ? 'set' : 'changed'} ${variable.secret ? 'secret ' : ''}${body.name} ${describeScope(scope)}`,
      }),
    );
    return { created, variable: toRecord(variable) };
  }

  /** Removes a variable from one scope; `E_VARIABLE_NOT_FOUND` when it is not set there. */
  async unset(token: StoredToken, name: string, query: VariableScopeQuery): Promise<void> {
    const scope = scopeOf(query);
    await this.authorizeChange(token, scope, false);
    if (!(await this.store.variables.unset(name, scope))) {
      throw new FerryError(
        'E_VARIABLE_NOT_FOUND',
        `No variable ${name} is set ${describeScope(scope)}`,
        { variable: name, scope: scope.kind, target: targetOf(scope) },
      );
    }
    await this.store.history.record(
      historyEvent({
        type: 'variable',
        by: token.name,
        env: scope.kind === 'env' ? scope.value : null,
        // So that `ferry history <app>` shows the variables of that app.
        app: scope.app ?? null,
        detail: `unset ${name} ${describeScope(scope)}`,
      }),
    );
  }

  /** Variables as a client may see them: all, or those of one scope. */
  async list(query: VariableScopeQuery = {}): Promise<VariableRecord[]> {
    const filtered =
      query.env !== undefined || query.role !== undefined || query.host !== undefined;
    const variables = await this.store.variables.list({
      ...(filtered ? { scopes: [scopeOf(query)] } : {}),
      ...(query.app === undefined ? {} : { app: query.app }),
    });
    return variables.map(toRecord);
  }

  /**
   * The variables of one host, each from the narrowest scope that sets it. With
   * `names`, only those, and a name no scope sets is `E_VARIABLE_MISSING`; without,
   * every variable that applies to the host. Two roles that disagree on a variable
   * asked for are `E_VARIABLE_AMBIGUOUS`.
   */
  async resolveFor(host: HostRecord, names?: string[], app?: string): Promise<ResolvedVariables> {
    return resolvedOrThrow(host, await this.resolve(host, names, app), names);
  }

  /**
   * `resolveFor` without names, for many hosts and apps at once: reads every
   * variable in one query, then resolves each host and app from them as
   * `resolveFor(host, undefined, app)` would — the same values, the same
   * errors — without a query each (`status` asks it of every host).
   *
   * @example
   *   const resolveFor = await variables.resolverForAll();
   *   const { vars } = resolveFor(host, 'cart'); // throws E_VARIABLE_AMBIGUOUS as resolveFor does
   */
  async resolverForAll(): Promise<(host: HostRecord, app?: string) => ResolvedVariables> {
    const all = await this.store.variables.list();
    // By scope, each with its place in the list's order, which the resolution keeps.
    const byScope = new Map<string, { at: number; variable: StoredVariable }[]>();
    for (const [at, variable] of all.entries()) {
      const key = scopeKey(variable.scope);
      const inScope = byScope.get(key);
      if (inScope) inScope.push({ at, variable });
      else byScope.set(key, [{ at, variable }]);
    }
    return (host, app) => {
      // What `variables.list({ scopes, app })` answers for the host: its scopes,
      // values for every app and for this one, in the list's order.
      const rows = [...new Set(scopesOf(host).map(scopeKey))]
        .flatMap((key) => byScope.get(key) ?? [])
        .filter(({ variable }) => (variable.scope.app ?? '') === '' || variable.scope.app === app)
        .sort((a, b) => a.at - b.at)
        .map(({ variable }) => variable);
      return resolvedOrThrow(host, resolveFrom(host, rows));
    };
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
    app?: string,
  ): Promise<Map<string, ResolvedVariables>> {
    const referenced = referencedVariables(manifest);
    const inCommands = commandReferences(manifest);
    const resolved = new Map<string, ResolvedVariables>();
    const missing: { host: string; missing: string[] }[] = [];
    const ambiguous: { host: string; ambiguous: Ambiguity[] }[] = [];
    const secretInCommand = new Map<string, { where: Set<string>; hosts: string[] }>();
    for (const host of hosts) {
      const resolution = await this.resolve(host, undefined, app);
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

  private async resolve(host: HostRecord, names?: string[], app?: string): Promise<Resolution> {
    // Without an app, only the values for every app.
    const rows = await this.store.variables.list({ scopes: scopesOf(host), app: app ?? '' });
    return resolveFrom(host, rows, names);
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
      const host = await this.store.hosts.findByName(scope.value);
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

/** The scopes that reach a host, widest first. */
function scopesOf(host: HostRecord): VariableScope[] {
  return [
    { kind: 'global' },
    { kind: 'env', value: host.env },
    ...host.roles.map((role): VariableScope => ({ kind: 'role', value: role })),
    { kind: 'host', value: host.name },
  ];
}

/** A scope as one string, whatever app it is for: what `variables.list` matches `scopes` on. */
function scopeKey(scope: VariableScope): string {
  return scope.kind === 'global' ? 'global' : `${scope.kind}\0${scope.value}`;
}

/**
 * A host's resolution from the variables of its scopes (for every app, and
 * for the app asked about), in the store's order: with `names`, only those.
 */
function resolveFrom(host: HostRecord, variables: StoredVariable[], names?: string[]): Resolution {
  const wanted = names && new Set(names);
  const rows = variables.filter((v) => !wanted || wanted.has(v.name));
  const byName = new Map<string, StoredVariable[]>();
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  for (const name of Object.keys(host.vars)) {
    if ((!wanted || wanted.has(name)) && !byName.has(name)) byName.set(name, []);
  }

  const resolution: Resolution = { vars: {}, secrets: [], ambiguous: [] };
  for (const [name, candidates] of byName) {
    const found = settle(host, name, candidates);
    if ('ambiguous' in found) resolution.ambiguous.push(found.ambiguous);
    else if (found.chosen) take(resolution, found.chosen);
  }
  resolution.secrets.sort();
  return resolution;
}

/** The variables of a resolution, or the error `resolveFor` throws for it. */
function resolvedOrThrow(
  host: HostRecord,
  resolution: Resolution,
  names?: string[],
): ResolvedVariables {
  const missing = absentFrom(resolution, names ?? []);
  if (missing.length > 0) throw missingError([{ host: host.name, missing }]);
  if (resolution.ambiguous.length > 0) {
    throw ambiguousError([{ host: host.name, ambiguous: resolution.ambiguous }]);
  }
  return { vars: resolution.vars, secrets: resolution.secrets };
}

/** The names no scope sets (a name two roles disagree on is ambiguous, not absent). */
function absentFrom(resolution: Resolution, names: string[]): string[] {
  const ambiguous = new Set(resolution.ambiguous.map((a) => a.variable));
  return [...new Set(names)]
    .filter((n) => !Object.hasOwn(resolution.vars, n) && !ambiguous.has(n))
    .sort();
}

/** A level of the precedence, narrowest first: a scope kind, or the host's enrolment `--var`s. */
const LEVELS = ['host', 'enrolled', 'role', 'env', 'global'] as const;

/**
 * The value of one variable for one host, from its candidates (one app's and
 * every app's): the narrowest level that sets it, the app's value first within
 * a level; or the ambiguous pair.
 */
function settle(
  host: HostRecord,
  name: string,
  candidates: StoredVariable[],
): { chosen: StoredVariable | undefined } | { ambiguous: Ambiguity } {
  const at = (level: (typeof LEVELS)[number], forApp: boolean): StoredVariable[] => {
    if (level === 'enrolled') {
      const enrolled = host.vars[name];
      // The host's own `--var`s, given at enrolment, count as host scope, below
      // what `ferry vars set --host` sets: that one can be changed on the server
      // without re-enrolling the host.
      return forApp || enrolled === undefined
        ? []
        : [
            {
              name,
              scope: { kind: 'host', value: host.name },
              value: enrolled,
              secret: false,
              updatedAt: '',
              updatedBy: 'enrolment',
            },
          ];
    }
    return candidates.filter(
      (c) => c.scope.kind === level && (c.scope.app !== undefined) === forApp,
    );
  };
  for (const [index, level] of LEVELS.entries()) {
    for (const forApp of [true, false]) {
      const here = at(level, forApp);
      if (here.length === 0) continue;
      if (new Set(here.map((c) => c.value)).size > 1) {
        // Only roles can hold several values at one level: one per role.
        return {
          ambiguous: {
            variable: name,
            roles: here.flatMap((r) => targetOf(r) ?? []).sort(),
            scopes: here.map(describeCandidate),
          },
        };
      }
      // Roles that agree: the value is secret if any of them keeps it secret.
      const chosen = { ...here[0]!, secret: here.some((c) => c.secret) };
      if (!forApp) {
        // A value for every app, in a narrower scope than one for the app that differs.
        const wider = LEVELS.slice(index + 1)
          .flatMap((l) => at(l, true))
          .find((c) => c.value !== chosen.value);
        if (wider) {
          return {
            ambiguous: {
              variable: name,
              roles: [],
              scopes: [describeCandidate(wider), describeCandidate(chosen)],
            },
          };
        }
      }
      return { chosen };
    }
  }
  return { chosen: undefined };
}

/** `env qa for app cart`, `host web-1`, `enrolment of web-1`, `global`. */
function describeCandidate(variable: StoredVariable): string {
  const where =
    variable.updatedBy === 'enrolment' && variable.updatedAt === ''
      ? `the enrolment --var of host ${targetOf(variable) ?? ''}`
      : variable.scope.kind === 'global'
        ? 'global'
        : `${variable.scope.kind} ${variable.scope.value}`;
  return variable.scope.app === undefined ? where : `${where} for app ${variable.scope.app}`;
}

function take(resolution: Resolution, variable: StoredVariable): void {
  resolution.vars[variable.name] = variable.value;
  if (variable.secret) resolution.secrets.push(variable.name);
}

/** The scope a body or query names: at most one of env, role, host (the schema checks that). */
export function scopeOf(query: VariableScopeQuery): VariableScope {
  const app = query.app === undefined ? {} : { app: query.app };
  if (query.env !== undefined) return { kind: 'env', value: query.env, ...app };
  if (query.role !== undefined) return { kind: 'role', value: query.role, ...app };
  if (query.host !== undefined) return { kind: 'host', value: query.host, ...app };
  return { kind: 'global', ...app };
}

function targetOf(scope: VariableScope | StoredVariable): string | null {
  const s = 'scope' in scope ? scope.scope : scope;
  return s.kind === 'global' ? null : s.value;
}

function describeScope(scope: VariableScope): string {
  const where = scope.kind === 'global' ? 'globally' : `for ${scope.kind} ${scope.value}`;
  return scope.app === undefined ? where : `${where} for app ${scope.app}`;
}

/** What a client may see of a variable: never a secret's value. */
function toRecord(variable: StoredVariable): VariableRecord {
  return {
    name: variable.name,
    scope: variable.scope.kind,
    target: targetOf(variable.scope),
    app: variable.scope.app ?? null,
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
      ambiguous.map((a) =>
        a.roles.length > 0
          ? `${a.variable} on ${host} (roles ${a.roles.join(' and ')})`
          : `${a.variable} on ${host} (${a.scopes.join(' and ')}: set it for the app in the narrower scope to settle it)`,
      ),
    )
    .join(', ');
  return new FerryError(
    'E_VARIABLE_AMBIGUOUS',
    `Scopes that apply to one host set a variable to different values, neither one narrower: ${text}. Nothing was sent to any host`,
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
