import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parsePublicKey } from '../bundle/bundle-signature.js';
import { durationSchema, parseDuration } from '../bundle/manifest-schema.js';
import { DEFAULT_BUNDLE_LIMITS } from '../bundle/inspect-bundle.js';
import { FerryError } from '../protocol/errors.js';
import { environmentsSchema } from './environment-config.js';

/** The port `ferry server` listens on unless told otherwise. */
export const DEFAULT_PORT = 7400;

/**
 * A duration between two bounds, in milliseconds: for what becomes a timer
 * (0 would spin; more than Node's 24.8 days fires at once, again and again).
 */
function durationBetween(fallback: string, minMs: number, maxMs: number, expected: string) {
  return durationSchema
    .default(fallback)
    .refine((text) => parseDuration(text) >= minMs && parseDuration(text) <= maxMs, {
      error: `expected a duration between ${expected}`,
    });
}

const storeSchema = z.discriminatedUnion('driver', [
  z.strictObject({ driver: z.literal('sqlite'), path: z.string().min(1).optional() }),
  z.strictObject({
    driver: z.literal('postgres'),
    url: z.string().regex(/^postgres(ql)?:\/\//, {
      error: 'expected a PostgreSQL URL such as postgres://ferry@db.internal:5432/ferry',
    }),
  }),
]);

/** How the server reaches its agents: the built-in WebSocket transport, or RabbitMQ. */
const transportSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('builtin') }),
  z.strictObject({
    kind: z.literal('rabbitmq'),
    url: z.string().regex(/^amqps?:\/\//, {
      error: 'expected an AMQP URL such as amqp://ferry:secret@rabbit.internal:5672',
    }),
    // Broker users that may speak for any host (agents sharing one user); the
    // server's own user always may. Otherwise a host's user is named after it.
    trustedUsers: z.array(z.string().min(1)).default([]),
    // For an amqps:// URL: a PEM file of the CA that the broker's certificate
    // must chain to (a broker with its own CA); without it, the system's CAs.
    ca: z.string().min(1).optional(),
    // The first part of every exchange and queue name.
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,40}$/)
      .default('ferry'),
  }),
]);

const artifactsSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fs'), path: z.string().min(1).optional() }),
]);

/** The server's configuration, strict: an unknown key is an error. */
export const serverConfigSchema = z
  .strictObject({
    data: z.string({ error: 'expected the data folder (--data DIR or FERRY_DATA)' }).min(1),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    /**
     * This server process among several replicas, in logs and as the holder of
     * leases on deployments; `<machine>-<pid>` unless set. Unique per process.
     */
    replicaId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    /**
     * The key that seals secret variables at rest: 32 bytes in base64 or hex.
     * Unset, the server keeps its own in `<data>/secret.key`. Every replica of one
     * store needs the same. Only from the file or `FERRY_SECRET_KEY`, never a
     * flag (a process's arguments are visible to every user).
     */
    secretKey: z.string().min(1).optional(),
    /**
     * The ed25519 private key (PEM) the server signs bundles with. Unset, the
     * server keeps its own in `<data>/signing.key`. Every replica of one store
     * needs the same. Only from the file or `FERRY_SIGNING_KEY`, never a flag.
     */
    signingKey: z.string().min(1).optional(),
    /**
     * Developers' public keys by name (an ed25519 public key: PEM, or its 32 bytes
     * in base64 as `ferry keys create` prints it): the names `requireSignedBy`
     * lists, and how `ferry bundle show` names who signed.
     */
    developerKeys: z
      .record(
        z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, { error: 'expected a plain key name' }),
        z.string().min(1),
      )
      .default({}),
    /**
     * Serve plain HTTP instead of HTTPS: only with `--insecure-http`, for a
     * network the operator trusts or a TLS proxy on the same machine. Tokens,
     * variables and bundles then cross the wire in clear; the server warns.
     */
    insecureHttp: z.boolean().default(false),
    /** HTTPS: the server's own CA and certificate, or the operator's (see docs/security.md#tls). */
    tls: z
      .strictObject({
        // The operator's certificate (PEM, the chain after it) and key; both or
        // neither. Read again on SIGHUP. Without them the server is its own CA.
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        // Names and addresses put in the server's own certificate, added to the
        // defaults (the listen address, localhost, 127.0.0.1, ::1, the hostname).
        names: z.array(z.string().min(1)).min(1).optional(),
        // How long the server's own CA is valid (made once, on the first start).
        caDays: z.coerce.number().positive().default(3650),
        // How long each server certificate it issues itself is valid, …
        serverCertDays: z.coerce.number().positive().default(90),
        // … renewed when it has less than this left (no restart, no connection dropped), …
        renewBeforeDays: z.coerce.number().positive().default(30),
        // … looked at this often.
        // (at most a day: a longer timer than Node's 24.8 days would fire at once, again and again)
        checkSeconds: z.coerce.number().positive().max(86_400).default(3600),
      })
      .prefault({})
      .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), {
        error: 'give both tls.certFile and tls.keyFile (--tls-cert and --tls-key), or neither',
      })
      .refine((tls) => tls.renewBeforeDays < tls.serverCertDays, {
        // Or every check would issue a new certificate.
        error: 'tls.renewBeforeDays must be less than tls.serverCertDays',
        path: ['renewBeforeDays'],
      }),
    /** The lifecycle, in order: dev → qa → prod unless configured. */
    environments: environmentsSchema,
    store: storeSchema.default({ driver: 'sqlite' }),
    transport: transportSchema.default({ kind: 'builtin' }),
    artifacts: artifactsSchema.default({ kind: 'fs' }),
    /** How rollouts are driven; see RolloutDriver. */
    rollout: z
      .strictObject({
        // A replica that stops renewing its lease on a deployment for this long
        // (it died) loses it; another replica, or the next start, carries it on.
        leaseSeconds: z.coerce.number().positive().default(15),
        // How often active deployments are looked at, besides when an install ends.
        tickMs: z.coerce.number().int().min(50).max(60_000).default(500),
      })
      .prefault({}),
    /** How much of each host's facts history is kept, and how often unchanged facts are sampled. */
    factsHistory: z
      .strictObject({
        // Samples kept per host, newest first.
        keepSamples: z.coerce.number().int().min(1).max(1_000_000).default(1000),
        // Samples older than this go.
        keepDays: z.coerce.number().positive().default(30),
        // Load, free memory and disk, and uptimes move all the time: a report that
        // changes only those is sampled at most this often. Any other change is
        // sampled at once.
        sampleMinutes: z.coerce.number().min(0).default(30),
      })
      .prefault({}),
    /** When alerts are raised from hosts' facts, health and presence (docs/alerts.md). */
    alerts: z
      .strictObject({
        // A disk (per mount) fuller than this share of its size raises `disk-full`.
        diskPercent: z.coerce.number().gt(0).max(100).default(90),
        // Memory in use over this share of the host's total raises `memory-full`.
        memoryPercent: z.coerce.number().gt(0).max(100).default(95),
        // A service restarted this many times in the last hour raises `service-restarting`.
        restartsPerHour: z.coerce.number().int().min(1).default(3),
        // How often hosts away longer than their environment's offlineTimeout are looked for.
        // (a tenth of a second at least; at most a day, as Node's timers take)
        checkEvery: durationSchema
          .default('30s')
          .refine((every) => parseDuration(every) >= 100 && parseDuration(every) <= 86_400_000, {
            error: 'expected a duration between 100ms and 24h',
          }),
        // Alerts cleared longer ago than this go (at start, then every hour); open ones stay.
        keepDays: z.coerce.number().positive().max(36_500).default(90),
      })
      .prefault({}),
    /** How long the live event stream's events are kept, for clients that resume (`Last-Event-ID`). */
    events: z
      .strictObject({
        // Events older than this go (checked every hour); a client resuming from
        // before then is told what it missed cannot all be sent.
        keepDays: z.coerce.number().positive().default(7),
        // Each open stream gets a comment line this often, so that proxies do not
        // close it as idle; its session or token is checked again then, and a
        // stream whose sign-in no longer counts (signed out or revoked on another
        // replica) ends.
        heartbeatSeconds: z.coerce.number().positive().max(300).default(15),
      })
      .prefault({}),
    /** Notifications to webhooks (docs/webhooks.md): how they are sent and retried. */
    webhooks: z
      .strictObject({
        // A delivery that failed is tried again after this, then twice as long
        // each time, …
        // (100ms to 24h, as the ones below: 0 would retry at every look)
        retryFirst: durationBetween('10s', 100, 86_400_000, '100ms and 24h'),
        // … at most this long apart (no less than retryFirst), …
        retryMax: durationBetween('10m', 100, 86_400_000, '100ms and 24h'),
        // … until this long after it was recorded: then it is given up (`failed`).
        giveUpAfter: durationBetween('24h', 0, 365 * 86_400_000, '0s and 8760h'),
        // A receiver that has not answered in this long has failed the attempt.
        timeout: durationBetween('10s', 100, 3_600_000, '100ms and 1h'),
        // How often deliveries that are due are looked for, besides when an event comes.
        // (0 would be a busy loop; more than Node's 24.8 days a timer firing every millisecond)
        poll: durationBetween('1s', 100, 86_400_000, '100ms and 24h'),
        // Deliveries that ended (delivered, given up) are kept this long (checked hourly).
        keepDays: z.coerce.number().positive().max(36_500).default(30),
      })
      .prefault({})
      .refine((hooks) => parseDuration(hooks.retryMax) >= parseDuration(hooks.retryFirst), {
        error: 'webhooks.retryMax must be at least webhooks.retryFirst',
        path: ['retryMax'],
      }),
    /** The audit log of every request that changes something (docs/security.md). */
    audit: z
      .strictObject({
        // Entries older than this go (checked at start and every hour).
        retentionDays: z.coerce.number().positive().max(36_500).default(365),
      })
      .prefault({}),
    /** Hosts' own credentials: how long they live, and when their agents rotate them. */
    hosts: z
      .strictObject({
        // A credential's life from when it is made (at enrolment or rotation).
        // Fractions are fine (0.5 = 12 hours).
        credentialDays: z.coerce.number().positive().max(3650).default(30),
        // The share of its life left when the agent is told to rotate it: with
        // 30 days and 1/3, on day 20, leaving ten days for an agent that is away.
        rotateWhenLeft: z.coerce
          .number()
          .gt(0)
          .lt(1)
          .default(1 / 3),
        // How long the old credential still counts after rotation, unless its
        // successor is used first: an agent that crashed before keeping the new
        // one starts again with the old one within it.
        rotationGraceSeconds: z.coerce.number().positive().default(3600),
        // How often each agent connection's credential is checked again: one
        // that expired or was revoked on another replica is closed.
        connectionCheckSeconds: z.coerce.number().positive().max(300).default(15),
      })
      .prefault({}),
    /**
     * `GET /metrics` in the Prometheus text format (docs/metrics.md). Off unless
     * enabled; then each scrape needs `Authorization: Bearer <token>`, unless
     * `public` says, explicitly, that anyone who reaches the port may read it.
     * The token only from the file or `FERRY_METRICS_TOKEN`, never a flag.
     */
    metrics: z
      .strictObject({
        enabled: z.boolean().default(false),
        token: z.string().min(16, 'expected at least 16 characters').optional(),
        public: z.boolean().default(false),
      })
      .prefault({}),
    /** The dashboard's sign-in sessions. */
    sessions: z
      .strictObject({
        // A session ends this long after sign-in (or earlier: sign-out, its token revoked).
        ttlHours: z.coerce.number().positive().max(8760).default(12),
      })
      .prefault({}),
    limits: z
      .strictObject({
        maxBundleBytes: z.coerce
          .number()
          .int()
          .positive()
          .default(4 * 1024 ** 3),
        maxFiles: z.coerce.number().int().positive().default(DEFAULT_BUNDLE_LIMITS.maxFiles),
        maxUnpackedBytes: z.coerce
          .number()
          .int()
          .positive()
          .default(DEFAULT_BUNDLE_LIMITS.maxUnpackedBytes),
        // Worker threads that check pushed bundles; also how many pushes are checked at once.
        inspectorThreads: z.coerce.number().int().min(1).max(64).default(2),
        // An upload that sends nothing for this long is cut off.
        uploadIdleSeconds: z.coerce.number().positive().default(60),
        // Past its first uploadIdleSeconds, an upload must have averaged at least this
        // rate (16 KiB/s: a 100 MB bundle over a 128 kbit/s link), or it is cut off:
        // a client trickling a byte now and then cannot hold a checker.
        uploadMinBytesPerSecond: z.coerce
          .number()
          .positive()
          .default(16 * 1024),
        // No upload takes longer than this, whatever its rate (6 h).
        uploadMaxSeconds: z.coerce
          .number()
          .positive()
          .default(6 * 3600),
        // A push waits at most this long for a free checker thread; then 503 with
        // Retry-After, before its body is read.
        checkerWaitSeconds: z.coerce.number().positive().default(20),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    // Each key must be one; each name an environment requires must be a key.
    for (const [name, text] of Object.entries(config.developerKeys)) {
      try {
        parsePublicKey(text, `developerKeys.${name}`);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['developerKeys', name],
          message: (err as Error).message,
        });
      }
    }
    // A scrape endpoint left open by a forgotten token would show the fleet to anyone.
    if (config.metrics.enabled && !config.metrics.public && config.metrics.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'token'],
        message:
          'metrics.enabled needs a token (metrics.token or FERRY_METRICS_TOKEN), or metrics.public: true to serve /metrics to anyone',
      });
    }
    config.environments.forEach((env, index) => {
      for (const name of env.requireSignedBy) {
        if (!Object.hasOwn(config.developerKeys, name))
          ctx.addIssue({
            code: 'custom',
            path: ['environments', index, 'requireSignedBy'],
            message: `${name} is not a key in developerKeys`,
          });
      }
    });
  });

export type ServerConfig = z.output<typeof serverConfigSchema>;

/** Environment variables the server reads, and where each lands in the config. */
const ENV_KEYS: Record<string, string[]> = {
  FERRY_DATA: ['data'],
  FERRY_HOST: ['host'],
  FERRY_PORT: ['port'],
  FERRY_LOG_LEVEL: ['logLevel'],
  FERRY_MAX_BUNDLE_BYTES: ['limits', 'maxBundleBytes'],
  FERRY_STORE_URL: ['storeUrl'],
  FERRY_REPLICA_ID: ['replicaId'],
  FERRY_TRANSPORT_URL: ['transportUrl'],
  FERRY_AMQP_CA: ['amqpCa'],
  FERRY_SECRET_KEY: ['secretKey'],
  FERRY_SIGNING_KEY: ['signingKey'],
  FERRY_METRICS_TOKEN: ['metrics', 'token'],
  FERRY_TLS_CERT: ['tls', 'certFile'],
  FERRY_TLS_KEY: ['tls', 'keyFile'],
};

/**
 * Builds the server's configuration: defaults, then the YAML file, then `FERRY_*`
 * variables, then flags. Validated once; every problem is reported together
 * (`E_CONFIG_INVALID`). The result is frozen, with paths made absolute.
 */
export async function loadServerConfig(options: {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, unknown>;
}): Promise<Readonly<ServerConfig>> {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (err) {
      throw new FerryError(
        'E_CONFIG_INVALID',
        `Cannot read the config file ${options.file}: ${(err as Error).message}`,
      );
    }
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new FerryError('E_CONFIG_INVALID', `${options.file} must hold a YAML map of settings`);
    }
    fromFile = (parsed ?? {}) as Record<string, unknown>;
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [name, keyPath] of Object.entries(ENV_KEYS)) {
    const value = (options.env ?? process.env)[name];
    if (value !== undefined && value !== '') setPath(fromEnv, keyPath, value);
  }
  // A list: the names and addresses of the server's own certificate, comma-separated.
  const tlsNames = (options.env ?? process.env).FERRY_TLS_NAMES;
  if (tlsNames !== undefined && tlsNames.trim() !== '') {
    fromEnv.tlsNames = tlsNames
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
  }
  const flags = stripUndefined(options.flags ?? {});
  // A URL alone says which adapter: --store-url / FERRY_STORE_URL means PostgreSQL,
  // --transport-url / FERRY_TRANSPORT_URL means RabbitMQ.
  for (const layer of [fromEnv, flags]) {
    const { storeUrl, transportUrl, amqpCa, tlsCert, tlsKey, tlsNames } = layer;
    delete layer.tlsCert;
    delete layer.tlsKey;
    delete layer.tlsNames;
    if (tlsCert !== undefined || tlsKey !== undefined || tlsNames !== undefined) {
      layer.tls = {
        ...(isPlainObject(layer.tls) ? layer.tls : {}),
        ...stripUndefined({ certFile: tlsCert, keyFile: tlsKey, names: tlsNames }),
      };
    }
    delete layer.storeUrl;
    delete layer.transportUrl;
    delete layer.amqpCa;
    if (storeUrl !== undefined) layer.store = { driver: 'postgres', url: storeUrl };
    if (transportUrl !== undefined) layer.transport = { kind: 'rabbitmq', url: transportUrl };
    // --amqp-ca / FERRY_AMQP_CA goes with whichever layer names the broker.
    if (amqpCa !== undefined) layer.transport = { ...(layer.transport ?? {}), ca: amqpCa };
  }
  const merged = deepMerge(deepMerge(fromFile, fromEnv), flags);
  const result = serverConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new FerryError(
      'E_CONFIG_INVALID',
      `The server configuration has problems:\n  ${problems.join('\n  ')}`,
      {
        problems,
      },
    );
  }
  const config = result.data;
  config.data = path.resolve(config.data);
  if (config.transport.kind === 'rabbitmq' && config.transport.ca !== undefined)
    config.transport.ca = path.resolve(config.transport.ca);
  if (config.tls.certFile !== undefined) config.tls.certFile = path.resolve(config.tls.certFile);
  if (config.tls.keyFile !== undefined) config.tls.keyFile = path.resolve(config.tls.keyFile);
  return Object.freeze(config);
}

/** The SQLite file of a config (default `<data>/ferry.db`). */
export function sqlitePath(config: ServerConfig & { store: { driver: 'sqlite' } }): string {
  return path.resolve(config.data, config.store.path ?? 'ferry.db');
}

/** The artifact folder of a config (default `<data>/bundles`). */
export function artifactsPath(config: ServerConfig): string {
  return path.resolve(config.data, config.artifacts.path ?? 'bundles');
}

function setPath(target: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function stripUndefined(flags: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}
