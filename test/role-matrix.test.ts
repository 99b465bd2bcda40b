import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createBundle } from '../src/bundle/pack.js';
import { FerryClient } from '../src/client/ferry-client.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';
import { LocalServer } from '../src/dev/local-server.js';
import { releasePort, reservePort } from '../src/dev/port-allocator.js';
import { ROLES, type Role } from '../src/protocol/api.js';
import { isActiveDeployment } from '../src/protocol/lifecycle.js';
import {
  isStreamContent,
  jsonSchemaOf,
  type RouteDeclaration,
} from '../src/protocol/route-declaration.js';
import { type RouteName, ROUTES } from '../src/protocol/routes.js';
import { AGENT_SOCKET_PATH } from '../src/transport/builtin/frames.js';
import {
  credentialHeaders,
  expectedVerdict,
  forgedToken,
  type MatrixCaller,
  NARROWER_RULES,
} from './helpers/matrix-callers.js';
import { REVIEWED_ROLES } from './helpers/reviewed-roles.js';
import { appTree, makeTree } from './helpers/source-tree.js';

/**
 * The role × route matrix (issue 17): every route declared in
 * `protocol/routes.ts`, called by every kind of caller against a real
 * `ferry server`, is answered as its declaration says. A caller of a role it
 * takes is never refused (401/403) with realistic input, and succeeds; any
 * other is refused with exactly 401 (no or an unknown credential) or 403 (role,
 * CSRF, or a narrower rule its declaration states), with the code for it. The
 * routes come from the declarations: a new route is called too, with its path
 * parameters filled by name when it has no fixture here.
 */

/**
 * The lifecycle: no autoDeploy (deployments start only when the test says).
 * In dev an away host is given up on at once, so that a deployment there lands
 * (`partial`) and its bundle can be promoted; elsewhere it is waited for, so
 * that a deployment there stays active until cancelled.
 */
const CONFIG = `rollout: { tickMs: 50 }
environments:
  - { name: dev, strategy: { offlineTimeout: 0ms } }
  - { name: qa, strategy: { offlineTimeout: 1h } }
  - { name: staging, strategy: { offlineTimeout: 1h } }
  - { name: prod }
`;

/** What one call sends: path parameters, query, a JSON body or bytes. */
interface CallInput {
  params?: Record<string, string | number>;
  query?: Record<string, string>;
  body?: unknown;
  bytes?: Buffer;
}

/** What one call was answered. */
interface Outcome {
  status: number;
  code?: string;
  message?: string;
  json?: unknown;
  setCookie?: string | null;
}

/**
 * How to call one route realistically. `input` makes what a call by a caller
 * needs (as the admin, just before it) when the caller is to be let through;
 * a refused caller gets input that would harm nothing were it let through.
 * `elsewhere` makes the same call acting outside the `qa` environment (each
 * way it can name another one), for the tokens bound to `qa`.
 */
interface Fixture {
  input(caller: MatrixCaller, allowed: boolean): Promise<CallInput> | CallInput;
  elsewhere?: readonly (() => Promise<CallInput>)[];
}

let server: LocalServer;
let port: number;
let admin: FerryClient;
let adminToken: string;
const callers: MatrixCaller[] = [];
/** What the fixtures call on: made once, before the matrix. */
const world = {
  installId: '',
  deploymentId: '',
  noteId: 0,
  actionId: 0,
  bundleBytes: Buffer.alloc(0) as Buffer,
  anyEnrolment: '',
};
let made = 0;
const unique = (prefix: string) => `${prefix}-${++made}`;

beforeAll(async () => {
  port = await reservePort();
  server = await LocalServer.start({ port, config: CONFIG });
  adminToken = server.adminToken;
  admin = new FerryClient(server.url, adminToken, harnessTrust().clientOptions());

  const token = async (role: Role, env?: string) =>
    (await admin.call('createToken', { body: { role, ...(env ? { env } : {}) } })).token;
  const enrolment = await token('agent', 'qa');
  world.anyEnrolment = await token('agent');
  const hostToken = (await enroll(enrolment, 'matrix-host', 'qa', ['web'])).token;
  const otherHostToken = (await enroll(enrolment, 'other-host', 'qa', ['web'])).token;
  // Hosts that never connect: a deployment of shop in qa or staging stays active, one of
  // cart in dev lands without its host.
  await enroll(world.anyEnrolment, 'shop-qa', 'qa', ['shop']);
  await enroll(world.anyEnrolment, 'shop-staging', 'staging', ['shop']);
  await enroll(world.anyEnrolment, 'cart-dev', 'dev', ['cart']);
  const revoked = await admin.call('createToken', { body: { role: 'admin' } });
  await admin.call('revokeToken', { params: { id: revoked.id } });

  await push('cart', 'one');
  await push('cart', 'two');
  await push('shop', 'one');
  world.bundleBytes = await bundleOf('cart', 'pushed by the matrix');
  for (const env of ['dev', 'qa']) await deployAndSettle('cart', 1, env);
  const deployments = await admin.call('deployments', { query: { app: 'cart', env: 'qa' } });
  world.deploymentId = deployments.deployments[0]!.id;
  // An install sent to matrix-host: its token may download cart@1 and ask whether it is wanted.
  world.installId = (
    await admin.call('createInstall', { body: { app: 'cart', version: 1, host: 'matrix-host' } })
  ).id;
  const note = await admin.call('addNote', {
    body: {
      on: { kind: 'bundle', app: 'cart', version: 1 },
      section: 'testing',
      impact: 'minor',
      text: 'checked by the matrix',
    },
  });
  world.noteId = note.id;
  world.actionId = (
    await admin.call('addAction', {
      params: { id: note.id },
      body: { owner: 'qa-team', text: 'look again' },
    })
  ).id;

  const bearer = (
    key: string,
    role: Role,
    secret: string,
    more: Partial<MatrixCaller> = {},
  ): MatrixCaller => ({
    key,
    kind: 'bearer',
    role,
    env: null,
    host: null,
    csrf: false,
    token: secret,
    ...more,
  });
  const deployer = await token('deployer');
  callers.push(
    bearer('admin', 'admin', adminToken),
    bearer('deployer', 'deployer', deployer),
    bearer('deployer@qa', 'deployer', await token('deployer', 'qa'), { env: 'qa' }),
    bearer('qa', 'qa', await token('qa')),
    bearer('enrolment@qa', 'agent', enrolment, { env: 'qa' }),
    bearer('enrolment', 'agent', world.anyEnrolment),
    bearer('host', 'agent', hostToken, { env: 'qa', host: { name: 'matrix-host', sentJob: true } }),
    bearer('other host', 'agent', otherHostToken, {
      env: 'qa',
      host: { name: 'other-host', sentJob: false },
    }),
    { ...bearer('session', 'deployer', deployer), kind: 'session', csrf: true },
    { ...bearer('session without CSRF', 'deployer', deployer), kind: 'session' },
    {
      ...bearer('session on another site', 'deployer', deployer),
      kind: 'session',
      csrf: true,
      origin: 'https://elsewhere.example',
    },
    { ...bearer('revoked admin', 'admin', revoked.token), kind: 'unknown', role: null },
    { ...bearer('forged', 'admin', forgedToken()), kind: 'unknown', role: null },
    { ...bearer('none', 'admin', ''), kind: 'none', role: null },
  );
  for (const caller of callers) if (caller.kind === 'session') await signIn(caller);
  // A session whose token was revoked since: it ends with its token.
  const gone = await admin.call('createToken', { body: { role: 'deployer' } });
  const ended: MatrixCaller = {
    ...bearer('session of a revoked token', 'deployer', gone.token),
    kind: 'session',
    csrf: true,
  };
  await signIn(ended);
  await admin.call('revokeToken', { params: { id: gone.id } });
  callers.push({ ...ended, kind: 'unknown', role: null });
});

afterAll(async () => {
  await server?.stop();
  if (port !== undefined) releasePort(port);
});

async function enroll(enrolment: string, name: string, env: string, roles: string[]) {
  return new FerryClient(server.url, enrolment, harnessTrust().clientOptions()).call('enroll', {
    body: { name, env, roles },
  });
}

async function bundleOf(app: string, marker: string): Promise<Buffer> {
  const root = await makeTree(appTree(app, marker));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-matrix-'));
  const file = path.join(dir, 'b.tar.gz');
  await createBundle({ sourceDir: root, out: file });
  const bytes = await readFile(file);
  await rm(dir, { recursive: true, force: true });
  await rm(root, { recursive: true, force: true });
  return bytes;
}

/** Pushes a new bundle of `app` as the admin; answers its version. */
async function push(app: string, marker: string): Promise<number> {
  const bytes = await bundleOf(app, marker);
  const response = await admin.send('pushBundle', {}, { stream: { body: bytes } });
  return ((await response.json()) as { bundle: { version: number } }).bundle.version;
}

/** Waits until no deployment of `app` holds its environment's lock. */
async function settled(app: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { deployments } = await admin.call('deployments', { query: { app } });
    const active = deployments.filter((d) => isActiveDeployment(d.state));
    if (active.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`deployments of ${app} still active: ${active.map((d) => d.id).join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function deployAndSettle(app: string, version: number, env: string): Promise<void> {
  await settled(app);
  await admin.call('deploy', { body: { app, version, env } });
  await settled(app);
}

/** An active deployment of shop in `env` (its host never comes): one still active, or a new one. */
async function activeShopDeployment(env: string): Promise<string> {
  const { deployments } = await admin.call('deployments', { query: { app: 'shop', env } });
  const active = deployments.find((d) => isActiveDeployment(d.state));
  if (active) return active.id;
  return (await admin.call('deploy', { body: { app: 'shop', version: 1, env } })).id;
}

/** Signs a session caller in (again), with the token it speaks as. */
async function signIn(caller: MatrixCaller): Promise<void> {
  const outcome = await call('startSession', noCredential, { body: { token: caller.token } });
  renewSession(caller, outcome);
  if (!caller.session) throw new Error(`${caller.key} could not sign in: ${outcome.status}`);
}

function renewSession(caller: MatrixCaller, outcome: Outcome): void {
  const id = /^ferry_session=([^;]+);/.exec(outcome.setCookie ?? '')?.[1];
  const csrf = (outcome.json as { csrfToken?: string } | undefined)?.csrfToken;
  if (outcome.status === 201 && id && csrf) caller.session = { id, csrf };
}

const noCredential: MatrixCaller = {
  key: 'sign-in',
  kind: 'none',
  role: null,
  env: null,
  host: null,
  csrf: false,
  token: '',
};

/** A person's token for a sign-in by a caller that has none of its own. */
function signInToken(caller: MatrixCaller): string {
  return caller.kind === 'bearer' || caller.kind === 'session'
    ? caller.token
    : callers.find((c) => c.key === 'qa')!.token;
}

/** The same call in another spelling: another method, or its URL written otherwise. */
interface RequestVariant {
  readonly what: string;
  readonly method?: string;
  path(url: string): string;
}

const SAME_REQUEST: RequestVariant = { what: 'as declared', path: (url) => url };

/**
 * Other spellings of a refused call, which must be refused as well (or find
 * no route): HEAD of a GET, a trailing slash, a letter of the path
 * percent-encoded.
 */
const HEAD_REQUEST: RequestVariant = { what: 'HEAD', method: 'HEAD', path: (url) => url };

const REQUEST_VARIANTS: readonly RequestVariant[] = [
  HEAD_REQUEST,
  { what: 'with a trailing slash', path: (url) => url.replace(/(\?|$)/, '/$1') },
  {
    what: 'percent-encoded',
    path: (url) =>
      url.replace(
        /\/api\/v1\/([a-z])/,
        (_m, c: string) => `/api/v1/%${c.charCodeAt(0).toString(16)}`,
      ),
  },
];

/** Calls a route as `caller` over HTTP, and reads what it answered. */
async function call(
  name: RouteName,
  caller: MatrixCaller,
  input: CallInput,
  variant: RequestVariant = SAME_REQUEST,
): Promise<Outcome> {
  const route: RouteDeclaration = ROUTES[name];
  const method = variant.method ?? route.method;
  const url = variant.path(new FerryClient(server.url, undefined).url(name, input as never));
  const headers: Record<string, string> = credentialHeaders(caller, method);
  let body: Buffer | string | undefined;
  if (input.bytes !== undefined) {
    headers['content-type'] = 'application/gzip';
    body = input.bytes;
  } else if (input.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(input.body);
  }
  const response = await harnessFetch(url, {
    method,
    headers,
    ...(method === 'HEAD' ? { signal: AbortSignal.timeout(10_000) } : { body }),
  });
  const setCookie = response.headers.get('set-cookie');
  if (
    method === 'HEAD' ||
    (response.ok && (isStreamContent(route.answer) || route.answer === null))
  ) {
    // Bytes or an event stream: the status says it all; the rest is not read.
    await response.body?.cancel();
    return { status: response.status, setCookie };
  }
  const text = await response.text();
  const json = text === '' ? undefined : (JSON.parse(text) as unknown);
  const error = response.ok ? undefined : (json as { code?: string; message?: string });
  return {
    status: response.status,
    ...(error ? { code: error.code, message: error.message } : {}),
    json,
    setCookie,
  };
}

const cartAt1 = { app: 'cart', version: 1 };

/** A webhook's id: one made now (to a port nothing listens on) for a caller that may. */
async function webhookParams(allowed: boolean): Promise<CallInput> {
  const id = allowed
    ? (await admin.call('addWebhook', { body: { url: 'http://127.0.0.1:9/matrix' } })).id
    : 'wh_000000000000';
  return { params: { id } };
}

/** Realistic input for the routes declared today; a route not here gets `fallbackInput`. */
const FIXTURES: Partial<Record<RouteName, Fixture>> = {
  events: { input: () => ({}) },
  health: { input: () => ({}) },
  pushBundle: { input: () => ({ bytes: world.bundleBytes }) },
  apps: { input: () => ({}) },
  bundles: { input: () => ({ params: { app: 'cart' } }) },
  bundle: { input: () => ({ params: cartAt1 }) },
  downloadBundle: { input: () => ({ params: cartAt1 }) },
  whoami: { input: () => ({}) },
  createToken: { input: () => ({ body: { role: 'qa', name: unique('matrix-made') } }) },
  tokens: { input: () => ({}) },
  revokeToken: {
    input: async (_caller, allowed) => ({
      params: {
        id: allowed
          ? (await admin.call('createToken', { body: { role: 'qa' } })).id
          : 'tok_000000000000',
      },
    }),
  },
  addWebhook: { input: () => ({ body: { url: 'http://127.0.0.1:9/matrix', format: 'json' } }) },
  webhooks: { input: () => ({}) },
  testWebhook: { input: async (_caller, allowed) => webhookParams(allowed) },
  webhookDeliveries: { input: async (_caller, allowed) => webhookParams(allowed) },
  removeWebhook: { input: async (_caller, allowed) => webhookParams(allowed) },
  environments: { input: () => ({}) },
  enroll: {
    input: () => ({ body: { name: unique('matrix-enrolled'), env: 'qa', roles: ['web'] } }),
    elsewhere: [
      () =>
        Promise.resolve({ body: { name: unique('matrix-enrolled'), env: 'dev', roles: ['web'] } }),
    ],
  },
  hosts: { input: () => ({ query: { env: 'qa' } }) },
  hostFacts: { input: () => ({ params: { name: 'matrix-host' } }) },
  removeHost: {
    input: async (_caller, allowed) => ({
      params: {
        name: allowed
          ? (await enroll(world.anyEnrolment, unique('matrix-removed'), 'qa', ['web'])).name
          : 'nobody-here',
      },
    }),
  },
  createInstall: { input: () => ({ body: { ...cartAt1, host: 'matrix-host' } }) },
  install: { input: () => ({ params: { id: world.installId } }) },
  installLogs: { input: () => ({ params: { id: world.installId } }) },
  setVariable: variableSetting(),
  setVariableByPost: variableSetting(),
  variables: { input: () => ({}) },
  unsetVariable: {
    input: async (_caller, allowed) => {
      if (allowed)
        await admin.call('setVariable', { body: { name: 'MATRIX_GONE', value: 'x', env: 'qa' } });
      return { params: { name: 'MATRIX_GONE' }, query: { env: 'qa' } };
    },
    elsewhere: (['env', 'host'] as const).map((scope) => async () => {
      const where: Record<string, string> = scope === 'env' ? { env: 'dev' } : { host: 'cart-dev' };
      await admin.call('setVariable', { body: { name: 'MATRIX_GONE', value: 'x', ...where } });
      return { params: { name: 'MATRIX_GONE' }, query: where };
    }),
  },
  markVerdict: { input: () => ({ params: cartAt1, body: { verdict: 'passed' } }) },
  verdicts: { input: () => ({ params: cartAt1 }) },
  deploy: {
    input: async () => {
      await settled('cart');
      return { body: { ...cartAt1, env: 'qa' } };
    },
    elsewhere: [
      async () => {
        await settled('cart');
        return { body: { ...cartAt1, env: 'dev' } };
      },
    ],
  },
  promote: {
    // A new bundle that landed in dev goes on to qa; one dev has since gone back from, to dev again.
    input: async (_caller, allowed) => {
      if (!allowed) return { body: cartAt1 };
      const version = await push('cart', unique('promoted'));
      await deployAndSettle('cart', version, 'dev');
      return { body: { app: 'cart', version } };
    },
    elsewhere: [
      async () => {
        const version = await push('cart', unique('promoted'));
        await deployAndSettle('cart', version, 'dev');
        await deployAndSettle('cart', 1, 'dev');
        return { body: { app: 'cart', version } };
      },
    ],
  },
  rollback: {
    input: async (_caller, allowed) => {
      if (allowed) await deployAndSettle('cart', 2, 'qa');
      return { body: { app: 'cart', env: 'qa', to: 1 } };
    },
    elsewhere: [
      async () => {
        await deployAndSettle('cart', 2, 'dev');
        return { body: { app: 'cart', env: 'dev', to: 1 } };
      },
    ],
  },
  deployments: { input: () => ({ query: { app: 'cart' } }) },
  deployment: { input: () => ({ params: { id: world.deploymentId } }) },
  cancelDeployment: {
    input: async (_caller, allowed) => ({
      params: { id: allowed ? await activeShopDeployment('qa') : world.deploymentId },
    }),
    elsewhere: [async () => ({ params: { id: await activeShopDeployment('staging') } })],
  },
  // A deployment that has ended: neither paused nor baking (the matrix has no
  // bake), so an allowed caller is answered 409, not a 403.
  resumeDeployment: { input: () => ({ params: { id: world.deploymentId } }) },
  rollbackBakingDeployment: { input: () => ({ params: { id: world.deploymentId } }) },
  deploymentLogs: { input: () => ({ params: { id: world.deploymentId } }) },
  status: { input: () => ({}) },
  appHistory: { input: () => ({ params: { app: 'cart' } }) },
  history: { input: () => ({}) },
  addNote: {
    input: () => ({
      body: {
        on: { kind: 'bundle', ...cartAt1 },
        section: 'testing',
        impact: 'nil',
        text: 'seen by the matrix',
      },
    }),
  },
  notes: { input: () => ({ query: { app: 'cart' } }) },
  note: { input: () => ({ params: { id: world.noteId } }) },
  editNote: { input: () => ({ params: { id: world.noteId }, body: { impact: 'major' } }) },
  addAction: {
    input: () => ({ params: { id: world.noteId }, body: { owner: 'ops', text: 'follow up' } }),
  },
  completeAction: {
    input: async (_caller, allowed) => ({
      params: {
        id: allowed
          ? (
              await admin.call('addAction', {
                params: { id: world.noteId },
                body: { owner: 'ops', text: unique('to do') },
              })
            ).id
          : world.actionId,
      },
    }),
  },
  actions: { input: () => ({ query: { open: 'true' } }) },
  drift: { input: () => ({}) },
  report: { input: () => ({ query: { app: 'cart', version: '1' } }) },
  startSession: { input: (caller) => ({ body: { token: signInToken(caller) } }) },
  session: { input: () => ({}) },
  endSession: { input: () => ({}) },
  installWanted: { input: () => ({ params: { id: world.installId } }) },
};

function variableSetting(): Fixture {
  return {
    input: () => ({ body: { name: 'MATRIX_SET', value: 'on', env: 'qa' } }),
    // An environment's variable, and a host's (in dev).
    elsewhere: [{ env: 'dev' }, { host: 'cart-dev' }].map(
      (where) => () => Promise.resolve({ body: { name: 'MATRIX_SET', value: 'on', ...where } }),
    ),
  };
}

/** Values for path parameters by name, for a route without a fixture. */
function fallbackInput(route: RouteDeclaration): CallInput {
  const byName: Record<string, string | number> = {
    app: 'cart',
    version: 1,
    name: 'matrix-host',
    id: world.deploymentId,
  };
  const params = Object.fromEntries(
    [...route.path.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => [m[1]!, byName[m[1]!] ?? 'x']),
  );
  return { params };
}

/**
 * Calls `name` as `caller` with input for it, and says what is wrong with the
 * answer, if anything. A session caller keeps its session across calls that
 * end or replace it.
 */
async function check(
  name: RouteName,
  caller: MatrixCaller,
  notSucceeded: string[],
): Promise<string | undefined> {
  const verdict = expectedVerdict(name, caller);
  const fixture = FIXTURES[name];
  const input = fixture
    ? await fixture.input(caller, verdict.allowed)
    : fallbackInput(ROUTES[name]);
  const outcome = await call(name, caller, input);
  if (caller.kind === 'session' && name === 'startSession') renewSession(caller, outcome);
  if (caller.kind === 'session' && name === 'endSession' && outcome.status === 204) {
    await signIn(caller);
  }
  const route: RouteDeclaration = ROUTES[name];
  const said = `${route.method} ${route.path} (${name}) by ${caller.key}`;
  const answered = `${outcome.status}${outcome.code ? ` ${outcome.code}` : ''}`;
  if (verdict.allowed) {
    if (outcome.status === 401 || outcome.status === 403 || outcome.status >= 500) {
      return `${said}: allowed, but answered ${answered}: ${outcome.message ?? ''}`;
    }
    if (!route.statuses.includes(outcome.status)) notSucceeded.push(`${said}: ${answered}`);
    return undefined;
  }
  if (outcome.status !== verdict.status || outcome.code !== verdict.code) {
    return `${said}: expected ${verdict.status} ${verdict.code} (${verdict.why}), answered ${answered}`;
  }
  if (verdict.message !== undefined && outcome.message !== verdict.message) {
    return `${said}: told "${outcome.message ?? ''}", not its declaration's "${verdict.message}"`;
  }
  return undefined;
}

describe('the role × route matrix', () => {
  const names = Object.keys(ROUTES) as RouteName[];

  it('declares for every route the roles reviewed for it, and every rule it adds', () => {
    const unreviewed: string[] = [];
    for (const name of names) {
      const declared = ROUTES[name].roles as RouteDeclaration['roles'];
      if (declared !== 'public') {
        expect(declared.length, name).toBeGreaterThan(0);
        for (const role of declared) expect(ROLES, name).toContain(role);
      }
      const reviewed = REVIEWED_ROLES[name];
      if (reviewed === undefined) {
        unreviewed.push(`${name}: add its roles to test/helpers/reviewed-roles.ts`);
      } else if (rolesText(reviewed) !== rolesText(declared)) {
        unreviewed.push(
          `${name} declares ${rolesText(declared)}, reviewed ${rolesText(reviewed)}: change both, or neither`,
        );
      }
    }
    expect(unreviewed).toEqual([]);
    // A reviewed route, a fixture or a narrower rule for a route that is not declared is stale.
    const extra = [...Object.keys(REVIEWED_ROLES), ...Object.keys(FIXTURES)];
    for (const name of [...extra, ...Object.keys(NARROWER_RULES)]) {
      expect(names, `${name} is named here but not declared`).toContain(name);
    }
    // A narrower rule is one the declaration states to its readers.
    for (const name of Object.keys(NARROWER_RULES) as RouteName[]) {
      const route: RouteDeclaration = ROUTES[name];
      expect(route.note ?? route.forbidden, `${name} states no narrower rule`).toBeDefined();
    }
  });

  it('answers every route, for every caller, as its declared roles say', async () => {
    const problems: string[] = [];
    const notSucceeded: string[] = [];
    // A session caller signs in again when a call ends its session (see check).
    for (const caller of callers) {
      for (const name of names) {
        const problem = await check(name, caller, notSucceeded);
        if (problem) problems.push(problem);
      }
    }
    expect(problems).toEqual([]);
    // Each allowed call succeeds, but these: the fixture's input is realistic, the answer not 2xx.
    expect(notSucceeded.toSorted()).toEqual(EXPECTED_NOT_SUCCEEDED.toSorted());
  });

  it('keeps a token bound to an environment to its own, where an unbound one of its role goes', async () => {
    const problems: string[] = [];
    const bound = callers.filter((c) => c.env !== null && c.host === null && c.kind === 'bearer');
    for (const name of names) {
      const route: RouteDeclaration = ROUTES[name];
      const fixture = FIXTURES[name];
      for (const caller of bound) {
        if (!expectedVerdict(name, caller).allowed || route.method === 'GET') continue;
        if (!fixture?.elsewhere) {
          // A write that names an environment must say how it is called outside `qa`.
          if (takesEnv(route)) problems.push(`${name} takes an env but has no elsewhere input`);
          continue;
        }
        const unbound = callers.find(
          (c) => c.kind === 'bearer' && c.role === caller.role && c.env === null,
        )!;
        for (const [way, elsewhere] of fixture.elsewhere.entries()) {
          const there = await call(name, unbound, await elsewhere());
          if (!route.statuses.includes(there.status)) {
            problems.push(`${name} #${way} by ${unbound.key}: ${there.status} ${there.code}`);
          }
          const refused = await call(name, caller, await elsewhere());
          if (refused.status !== 403 || refused.code !== 'E_FORBIDDEN') {
            problems.push(`${name} #${way} by ${caller.key}: ${refused.status} ${refused.code}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('refuses a refused call however it is spelt', async () => {
    const problems: string[] = [];
    const refusedCallers = callers.filter((c) => ['none', 'qa', 'host'].includes(c.key));
    for (const name of names) {
      const route: RouteDeclaration = ROUTES[name];
      for (const caller of refusedCallers) {
        const verdict = expectedVerdict(name, caller);
        if (verdict.allowed) continue;
        const input = FIXTURES[name]
          ? await FIXTURES[name].input(caller, false)
          : fallbackInput(route);
        for (const variant of REQUEST_VARIANTS) {
          if (variant.method === 'HEAD' && route.method !== 'GET') continue;
          const outcome = await call(name, caller, input, variant);
          // A spelling the router does not take is a 404; one it takes is refused as declared.
          if (outcome.status !== verdict.status && outcome.status !== 404) {
            problems.push(
              `${name} by ${caller.key}, ${variant.what}: ${outcome.status} ${outcome.code ?? ''}`,
            );
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('answers HEAD of every GET route as the GET, for a person, a host and a session', async () => {
    const problems: string[] = [];
    const some = callers.filter((c) => ['admin', 'host', 'session'].includes(c.key));
    for (const name of names) {
      const route: RouteDeclaration = ROUTES[name];
      if (route.method !== 'GET') continue;
      for (const caller of some) {
        if (!expectedVerdict(name, caller).allowed) continue;
        const input = FIXTURES[name]
          ? await FIXTURES[name].input(caller, true)
          : fallbackInput(route);
        const get = await call(name, caller, input);
        // An answer that never comes (a stream held open for a HEAD) is one too.
        const head = await call(name, caller, input, HEAD_REQUEST).catch((err: unknown) => {
          if (!(err instanceof Error) || err.name !== 'TimeoutError') throw err;
          return { status: 'no answer in 10 s' };
        });
        if (head.status !== get.status) {
          problems.push(`HEAD ${route.path} by ${caller.key}: ${head.status}, GET ${get.status}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("opens the agents' job connection to a host's own token only", async () => {
    const answers: Record<string, string> = {};
    for (const caller of callers) answers[caller.key] = await connectAgent(caller);
    const expected = Object.fromEntries(
      callers.map((c) => [
        c.key,
        c.host
          ? 'open'
          : c.kind === 'none' || c.session
            ? '401 E_AUTH_REQUIRED'
            : c.kind === 'unknown'
              ? '401 E_AUTH_INVALID'
              : '403 E_FORBIDDEN',
      ]),
    );
    expect(answers).toEqual(expected);
  });
});

function rolesText(roles: 'public' | readonly Role[]): string {
  return roles === 'public' ? 'public' : roles.toSorted().join(', ');
}

/** Whether a route's body or query has an `env` field. */
function takesEnv(route: RouteDeclaration): boolean {
  return [jsonSchemaOf(route.body), route.query].some((schema) => {
    const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
    return shape !== undefined && 'env' in shape;
  });
}

/** Opens the built-in transport's WebSocket as `caller`: `open`, or the refusal's status and code. */
function connectAgent(caller: MatrixCaller): Promise<string> {
  const url = `${server.url.replace(/^http/, 'ws')}${AGENT_SOCKET_PATH}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      ...harnessTrust().tlsOptions(),
      headers: credentialHeaders(caller, 'GET'),
    });
    socket.on('open', () => {
      socket.close();
      resolve('open');
    });
    socket.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        const code = (JSON.parse(text) as { code: string }).code;
        resolve(`${response.statusCode} ${code}`);
      });
    });
    socket.on('error', reject);
  });
}

/**
 * Allowed calls whose realistic input still does not make them succeed, and
 * why: the install asked about is matrix-host's, and an enrolment token speaks
 * for no host yet.
 */
const EXPECTED_NOT_SUCCEEDED: string[] = [
  'GET /agent/installs/:id (installWanted) by other host: 404 E_INSTALL_NOT_FOUND',
  'GET /agent/installs/:id (installWanted) by enrolment: 404 E_INSTALL_NOT_FOUND',
  'GET /agent/installs/:id (installWanted) by enrolment@qa: 404 E_INSTALL_NOT_FOUND',
  // The matrix's deployment has ended: allowed, and told it is not paused or baking.
  ...['admin', 'deployer', 'deployer@qa', 'session'].flatMap((by) => [
    `POST /deployments/:id/resume (resumeDeployment) by ${by}: 409 E_DEPLOYMENT_NOT_PAUSED`,
    `POST /deployments/:id/rollback (rollbackBakingDeployment) by ${by}: 409 E_DEPLOYMENT_NOT_BAKING`,
  ]),
];
