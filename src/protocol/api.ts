import { z } from 'zod';
import { FIELD_LIMITS, roleNameSchema, tokenNameSchema, VERSION_DIGITS } from './fields.js';
import { hostFactsSchema } from './host-facts.js';
import { INSTALL_STATES } from './lifecycle.js';

/**
 * Bodies of the HTTP API, shared by the server (which sends them) and the CLI's
 * API client (which reads them). The API lives under `/api/v1`.
 */

export const API_PREFIX = '/api/v1';

/** Roles a token can carry; what each may do grows with later features. */
export const ROLES = ['admin', 'deployer', 'qa', 'agent'] as const;
export const roleSchema = z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` });
export type Role = z.infer<typeof roleSchema>;

/** `cart@12`: one bundle of one app; the version in plain digits (`cart@0x10` is refused). */
export const bundleRefSchema = z
  .string()
  .regex(new RegExp(`^[a-z][a-z0-9-]{0,62}@${VERSION_DIGITS.source.slice(1, -1)}$`), {
    error: 'expected <app>@<version>, such as cart@12',
  })
  .transform((ref) => {
    const [app, version] = ref.split('@') as [string, string];
    return { app, version: Number(version) };
  })
  .refine((ref) => ref.version <= FIELD_LIMITS.version, {
    error: `expected a version of at most ${FIELD_LIMITS.version}`,
  });

/**
 * One signature over a bundle: the server's, made when it accepted the push (over
 * app, version, sha256, size, label and commit), or a developer's, sent with the
 * push (over app, sha256 and label). What is signed is in docs/security.md.
 */
export const bundleSignatureSchema = z.object({
  by: z.enum(['server', 'developer']),
  /** The signing key's fingerprint, `SHA256:…`. */
  keyId: z.string(),
  /**
   * A developer key's name in the server's `developerKeys`, set only for a
   * signature that holds by a key the server names; null for a key it does
   * not name (whose signature may still be `verified`), and for the server's.
   */
  name: z.string().nullable(),
  /** The public key (its 32 bytes in base64). */
  publicKey: z.string(),
  /** The ed25519 signature, in base64. */
  signature: z.string(),
  /**
   * Whether the signature holds over the bundle's record as the server
   * answers it (the server's own with the server's key): only that the
   * signature is the key's, not that the key is one the server knows — a
   * developer signature by a key not in `developerKeys` is `true` with `name`
   * null. A signature that does not hold is `false`, names no one (`name`
   * null) and says why in `problem`. Set in the bundle, bundles and push
   * answers; absent elsewhere and from an older server's answer.
   */
  verified: z.boolean().optional(),
  /** Why `verified` is false; null when it is true. */
  problem: z.string().nullable().optional(),
});
export type BundleSignature = z.infer<typeof bundleSignatureSchema>;

export const bundleRecordSchema = z.object({
  app: z.string(),
  version: z.number().int(),
  label: z.string().nullable(),
  commit: z.string().nullable(),
  dirty: z.boolean().nullable(),
  sha256: z.string(),
  size: z.number().int(),
  fileCount: z.number().int(),
  createdAt: z.string(),
  pushedAt: z.string(),
  pushedBy: z.string(),
  /** The server's signature first (absent for a bundle it has not signed yet), then developers'. */
  signatures: z.array(bundleSignatureSchema).default([]),
});
export type BundleRecord = z.infer<typeof bundleRecordSchema>;

/** One bundle with the app's resolved manifest section it carries. */
export const bundleDetailSchema = bundleRecordSchema.extend({
  manifest: z.record(z.string(), z.unknown()),
});
export type BundleDetail = z.infer<typeof bundleDetailSchema>;

/** A deployment something else started: a push (autoDeploy), a verdict (autoPromote, --rollback). */
export const startedDeploymentSchema = z.object({
  env: z.string(),
  /** Null when it could not be started; `error` says why. */
  id: z.string().nullable(),
  version: z.number().int().nullable(),
  kind: z.string(),
  state: z.string().nullable(),
  error: z.string().nullable(),
});
export type StartedDeployment = z.infer<typeof startedDeploymentSchema>;

export const pushResultSchema = z.object({
  created: z.boolean(),
  bundle: bundleRecordSchema,
  /** Deployments the push started, to environments with autoDeploy. */
  deployments: z.array(startedDeploymentSchema).default([]),
});
export type PushResult = z.infer<typeof pushResultSchema>;

export const appSummarySchema = z.object({
  name: z.string(),
  latestVersion: z.number().int(),
  bundleCount: z.number().int(),
  lastPushedAt: z.string().nullable(),
});
export type AppSummary = z.infer<typeof appSummarySchema>;

export const tokenCreateBodySchema = z.strictObject({
  role: roleSchema,
  env: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
  name: tokenNameSchema.optional(),
});
export type TokenCreateBody = z.infer<typeof tokenCreateBodySchema>;

export const tokenRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  env: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  /** For an agent's own token: the host it speaks for. */
  hostId: z.string().nullable(),
  /** When a host's own credential stops counting; null for a token that does not expire. */
  expiresAt: z.string().nullable().default(null),
  /**
   * True for a host's credential its rotation replaced (revoked once the
   * agent confirmed its successor, or a successor it never kept): listed only
   * when asked for all tokens.
   */
  superseded: z.boolean().default(false),
});
export type TokenRecord = z.infer<typeof tokenRecordSchema>;

/** `GET /tokens`: superseded host credentials only with `all=true`. */
export const tokensQuerySchema = z.strictObject({
  all: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((v) => v === 'true')
    .optional(),
});
export type TokensQuery = z.infer<typeof tokensQuerySchema>;

export const tokenCreatedSchema = tokenRecordSchema.extend({
  token: z.string(),
  /**
   * The fingerprint of the server's CA (`sha256:<hex>` of its public key), for
   * the join string; null when the server's certificate is from a public CA or
   * it speaks plain HTTP.
   */
  caFingerprint: z.string().nullable().optional(),
});

export const whoamiSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  env: z.string().nullable(),
  serverVersion: z.string(),
});
export type Whoami = z.infer<typeof whoamiSchema>;

/** `POST /session`: a person's token, exchanged once for a session cookie. */
export const sessionStartBodySchema = z.strictObject({ token: z.string().min(1).max(200) });
export type SessionStartBody = z.infer<typeof sessionStartBodySchema>;

/**
 * A browser's session, as the page learns it: who it is, until when, and the
 * CSRF token its writes must carry (`x-ferry-csrf`). Never the token it was
 * made from, nor the session id (that stays in the HttpOnly cookie).
 */
export const sessionSchema = z.object({
  name: z.string(),
  role: roleSchema,
  env: z.string().nullable(),
  expiresAt: z.string(),
  csrfToken: z.string(),
  /** The server's version, as `whoami` gives it. */
  version: z.string(),
});
export type Session = z.infer<typeof sessionSchema>;

/** The cookie that carries a browser's session id. */
export const SESSION_COOKIE = 'ferry_session';
/** The header a session's writes carry its CSRF token in. */
export const CSRF_HEADER = 'x-ferry-csrf';

const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, {
  error: 'expected a name: lower-case letters, digits, dots and dashes',
});

/** `ferry agent` asks to join: with an enrolment token (role agent), for one environment. */
export const enrollBodySchema = z.strictObject({
  name: nameSchema,
  env: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  roles: z.array(roleNameSchema).min(1).max(100),
  vars: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(64 * 1024))
    .refine((vars) => Object.keys(vars).length <= FIELD_LIMITS.list, {
      error: `expected at most ${FIELD_LIMITS.list} variables`,
    })
    .default({}),
});
export type EnrollBody = z.infer<typeof enrollBodySchema>;

/**
 * A host credential's times: when it stops counting, and when its agent is to
 * rotate it (`POST /agent/credential`), well before then.
 */
export const credentialTimesSchema = z.object({
  expiresAt: z.string(),
  rotateAt: z.string(),
});
export type ConfirmedCredential = z.infer<typeof credentialTimesSchema>;

/** The enrolled host's id and its own token (its credential), which the agent keeps. */
export const enrollResultSchema = z.object({
  hostId: z.string(),
  name: z.string(),
  token: z.string(),
  /** The server's bundle-signing public key (32 bytes in base64): the agent checks every bundle with it. */
  signingKey: z.string().optional(),
  /** The credential's times; absent from a server older than expiring credentials. */
  credential: credentialTimesSchema.optional(),
});
export type EnrollResult = z.infer<typeof enrollResultSchema>;

/** A host's new credential, which replaces the one the call was made with once confirmed. */
export const rotatedCredentialSchema = credentialTimesSchema.extend({ token: z.string() });
export type RotatedCredential = z.infer<typeof rotatedCredentialSchema>;

export const hostRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  env: z.string(),
  roles: z.array(z.string()),
  vars: z.record(z.string(), z.string()),
  enrolledAt: z.string(),
  lastSeenAt: z.string().nullable(),
  connected: z.boolean(),
  /**
   * The facts its agent last reported, in the facts schema's shape. A client
   * reading an older server's untyped facts sees none rather than failing the list.
   */
  facts: hostFactsSchema.nullable().catch(null),
  /** When the host's own token was revoked: it is cut off, and gets no job, variable or bundle. */
  revokedAt: z.string().nullable().default(null),
});
export type HostRecord = z.infer<typeof hostRecordSchema>;

// Where one install stands, and where it may go next: ./lifecycle.ts.
export { INSTALL_STATES, type InstallState } from './lifecycle.js';

/**
 * Why an install exists: `install` (one host, `ferry install`), `deploy` (a host
 * of a deployment's rollout), `revert` (a host put back after a failed rollout),
 * `catch-up` (a host that was away or is new, brought to the desired release).
 */
export const INSTALL_PURPOSES = ['install', 'deploy', 'revert', 'catch-up'] as const;
export type InstallPurpose = (typeof INSTALL_PURPOSES)[number];

export const installStepSchema = z.object({
  step: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type InstallStep = z.infer<typeof installStepSchema>;

export const installRecordSchema = z.object({
  id: z.string(),
  hostId: z.string(),
  host: z.string(),
  app: z.string(),
  version: z.number().int(),
  state: z.enum(INSTALL_STATES),
  rolledBack: z.boolean(),
  error: z.string().nullable(),
  /** The deployment it belongs to; null for a single `ferry install`. */
  deploymentId: z.string().nullable(),
  purpose: z.enum(INSTALL_PURPOSES),
  /** The release the host ran before, as far as the server knew when it planned the install. */
  fromVersion: z.number().int().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  steps: z.array(installStepSchema),
});
export type InstallRecord = z.infer<typeof installRecordSchema>;

/** `ferry install cart@12 --host web-1`: one install on one host (admin). */
export const installCreateBodySchema = z.strictObject({
  app: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  version: z.int().positive().max(FIELD_LIMITS.version),
  host: nameSchema,
});

/** The output of each step of an install, in order. */
/** One step's stored output, with how it ended: its exit code (a command's) and how long it took. */
export const stepLogSchema = z.object({
  step: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']).nullable(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
});
export type StepLog = z.infer<typeof stepLogSchema>;

export const installLogsSchema = z.object({
  installId: z.string(),
  steps: z.array(stepLogSchema),
});
export type InstallLogs = z.infer<typeof installLogsSchema>;

/** Where a variable applies, from the widest to the narrowest; the narrowest one set wins. */
export const VARIABLE_SCOPES = ['global', 'env', 'role', 'host'] as const;
export type VariableScopeKind = (typeof VARIABLE_SCOPES)[number];

/** A variable's name: what `${NAME}` in a manifest refers to. */
export const variableNameSchema = z
  .string()
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: 'expected a variable name: letters, digits and underscores, not starting with a digit',
  });

/** At most one of env, role and host: none means the global scope. */
const variableScopeFields = {
  env: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
  role: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
  host: nameSchema.optional(),
  /** Only for this app (with any of the scopes above): two apps of one host each get their own. */
  app: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
};
const oneScopeAtMost = (scope: { env?: string; role?: string; host?: string }) =>
  [scope.env, scope.role, scope.host].filter((s) => s !== undefined).length <= 1;
const oneScopeMessage = 'give at most one of env, role and host (none: the global scope)';

/** `?env=` / `?role=` / `?host=` of `GET /vars` and `DELETE /vars/:name`. */
export const variableScopeQuerySchema = z
  .strictObject(variableScopeFields)
  .refine(oneScopeAtMost, { error: oneScopeMessage });
export type VariableScopeQuery = z.infer<typeof variableScopeQuerySchema>;

/** `ferry vars set NAME=VALUE [--env E | --role R | --host H] [--secret]`. */
export const variableSetBodySchema = z
  .strictObject({
    name: variableNameSchema,
    value: z.string().max(64 * 1024),
    secret: z.boolean().default(false),
    ...variableScopeFields,
  })
  .refine(oneScopeAtMost, { error: oneScopeMessage });
export type VariableSetBody = z.infer<typeof variableSetBodySchema>;

/** A variable as the API shows it: a secret's value is always null. */
export const variableRecordSchema = z.object({
  name: z.string(),
  scope: z.enum(VARIABLE_SCOPES),
  /** The environment, role or host name; null for the global scope. */
  target: z.string().nullable(),
  /** The app it is for; null for every app. */
  app: z.string().nullable().optional(),
  value: z.string().nullable(),
  secret: z.boolean(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type VariableRecord = z.infer<typeof variableRecordSchema>;

export const variableSetResultSchema = z.object({
  /** False when it replaced a value in the same scope. */
  created: z.boolean(),
  variable: variableRecordSchema,
});
export type VariableSetResult = z.infer<typeof variableSetResultSchema>;

/** An environment of the lifecycle, with its settings and how many hosts it has. */
export const environmentRecordSchema = z.object({
  name: z.string(),
  position: z.number().int(),
  autoDeploy: z.boolean(),
  requires: z.enum(['passed']).nullable(),
  autoPromote: z.boolean(),
  /** Only admins deploy, roll back and set variables here. */
  protected: z.boolean(),
  strategy: z.object({
    batch: z.union([z.number().int(), z.string()]),
    maxFailures: z.number().int(),
    rollbackOnFailure: z.boolean(),
    offlineTimeout: z.string(),
    /**
     * The bake after the last batch and after each batch (`0s`: none), and what
     * a bad one does (absent from a record an older server wrote).
     */
    bake: z.string().optional(),
    batchBake: z.string().optional(),
    onDegrade: z.enum(['rollback', 'pause', 'alert']).optional(),
  }),
  hosts: z.number().int(),
  connectedHosts: z.number().int(),
});
export type EnvironmentRecord = z.infer<typeof environmentRecordSchema>;

/** What QA can say of a bundle with `ferry mark`. */
export const VERDICTS = ['passed', 'failed'] as const;
export const verdictSchema = z.enum(VERDICTS, { error: `expected ${VERDICTS.join(' or ')}` });
export type Verdict = z.infer<typeof verdictSchema>;

/** A bundle's verdict now: its latest mark, or `pending` when nobody marked it. */
export const verdictStateSchema = z.enum(['pending', ...VERDICTS]);
export type VerdictState = z.infer<typeof verdictStateSchema>;

/** The body of `POST /apps/:app/bundles/:version/verdict`. */
export const verdictMarkBodySchema = z.strictObject({
  verdict: verdictSchema,
  note: z.string().max(2000).optional(),
  /** With `failed`: roll back every environment where the bundle is the desired release. */
  rollback: z.boolean().optional(),
  /**
   * With `rollback`: go back even across versions whose migrations ran there
   * (`ferry mark … failed --rollback --yes`); without it, such a rollback is
   * refused with `E_ROLLBACK_OVER_MIGRATIONS`, as `ferry rollback` is.
   */
  confirmMigrations: z.boolean().optional(),
});
export type VerdictMarkBody = z.infer<typeof verdictMarkBodySchema>;

/** One change of a bundle's verdict, with who made it and when. */
export const verdictRecordSchema = z.object({
  app: z.string(),
  version: z.number().int(),
  verdict: verdictSchema,
  note: z.string().nullable(),
  by: z.string(),
  at: z.string(),
});
export type VerdictRecord = z.infer<typeof verdictRecordSchema>;

/** A host that runs a bundle now, by the facts its agent last reported. */
export const liveHostSchema = z.object({ host: z.string(), env: z.string() });
export type LiveHost = z.infer<typeof liveHostSchema>;

/** The answer to a mark: the new verdict, the one before, and where the bundle is live. */
export const verdictMarkResultSchema = z.object({
  /** `cart@12`. */
  bundle: z.string(),
  verdict: verdictSchema,
  previous: verdictStateSchema,
  by: z.string(),
  at: z.string(),
  note: z.string().nullable(),
  liveOn: z.array(liveHostSchema),
  /** The environments whose desired release is this bundle. */
  liveIn: z.array(z.string()).default([]),
  /** Deployments the mark started: rollbacks (`--rollback`) or an automatic promotion. */
  deployments: z.array(startedDeploymentSchema).default([]),
});
export type VerdictMarkResult = z.infer<typeof verdictMarkResultSchema>;

/** `GET /apps/:app/bundles/:version`: the bundle detail and its verdict now. */
export const bundleDetailWithVerdictSchema = bundleDetailSchema.extend({
  verdict: verdictStateSchema,
});
export type BundleDetailWithVerdict = z.infer<typeof bundleDetailWithVerdictSchema>;

/** `GET /signing-key`: the public key the server signs bundles with. */
export const signingKeySchema = z.object({
  /** Its 32 bytes in base64. */
  publicKey: z.string(),
  /** Its fingerprint, `SHA256:…`. */
  keyId: z.string(),
});
export type SigningKey = z.infer<typeof signingKeySchema>;
