import type { z } from 'zod';
import type { Role } from './api.js';
import type { AuditTargetPart } from './audit-api.js';

/** The HTTP methods the API uses. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The server's features: each is one Fastify plugin that handles the routes declared for it. */
export const ROUTE_FEATURES = [
  'health',
  'bundles',
  'tokens',
  'environments',
  'hosts',
  'variables',
  'verdicts',
  'deployments',
  'notes',
  'drift',
  'reports',
  'events',
  'sessions',
  'audit',
  'alerts',
  'webhooks',
] as const;
export type RouteFeature = (typeof ROUTE_FEATURES)[number];

/** A body or an answer that is bytes rather than JSON: a bundle upload or download. */
export interface StreamContent {
  readonly stream: true;
  /** The Content-Type(s) of the bytes; the first is the one the client sends. */
  readonly contentTypes: readonly [string, ...string[]];
}

/**
 * Where the audit log reads a part of a write's target: a field of the
 * request's path parameters, query or JSON body (parsed, or as sent when it
 * was refused), or of its JSON answer; a dotted path reaches inside
 * (`body.on.app`). Never a secret: a field named `token`, `value`,
 * `password` or `secret` is never read (`AUDIT_UNREADABLE_FIELDS`).
 */
export type AuditSource = `${'params' | 'query' | 'body' | 'answer'}.${string}`;

/**
 * How the audit log names what a write acts on. The action is the route's
 * name; each part of the target is read from the first of its sources that
 * has a value. Every route but GET declares one (a test holds the
 * declarations to it); a GET changes nothing and is not recorded.
 *
 * @example
 *   audit: { target: { app: 'body.app', version: ['body.to', 'answer.version'], id: 'answer.id' } }
 */
export interface AuditDeclaration {
  readonly target: {
    readonly [P in AuditTargetPart]?: AuditSource | readonly [AuditSource, ...AuditSource[]];
  };
}

/** Field names the audit log never reads, whatever a declaration says: they hold secrets. */
export const AUDIT_UNREADABLE_FIELDS: ReadonlySet<string> = new Set([
  'token',
  'value',
  'password',
  'secret',
]);

/**
 * One HTTP route of the API, as data: what the server registers, the client
 * calls and `docs/api.md` shows. Paths are relative to `API_PREFIX` and name
 * their parameters as `:name`.
 */
export interface RouteDeclaration {
  readonly feature: RouteFeature;
  readonly method: RouteMethod;
  readonly path: string;
  /**
   * Who may call it: `public` (no token), or the token roles allowed. The server
   * refuses any other token with `E_FORBIDDEN` before it reads the body.
   */
  readonly roles: 'public' | readonly [Role, ...Role[]];
  /** What a token of a role it does not take is told, when the usual words would not help. */
  readonly forbidden?: string;
  /** One line for the API reference. */
  readonly summary: string;
  /** Further rules the route's service applies, for the reference (a protected environment). */
  readonly note?: string;
  readonly params?: z.ZodType;
  readonly query?: z.ZodType;
  readonly body?: z.ZodType | StreamContent;
  /** The JSON answer's schema, bytes (`StreamContent`), or null for an empty answer (204). */
  readonly answer: z.ZodType | StreamContent | null;
  /** The statuses of a successful answer, the usual one first. */
  readonly statuses: readonly [number, ...number[]];
  /**
   * How the audit log names the target of this write (every method but GET).
   * A write without one is still recorded, with its path parameters as target.
   */
  readonly audit?: AuditDeclaration;
}

/**
 * Declares one route, keeping its literal types so the server's handlers and the
 * client's calls are typed from it.
 *
 * @example
 *   const whoami = declareRoute({ feature: 'tokens', method: 'GET', path: '/whoami',
 *     roles: ['admin'], summary: 'The calling token', answer: whoamiSchema, statuses: [200] });
 */
export function declareRoute<const R extends RouteDeclaration>(route: R): R {
  return route;
}

/** True for a body or answer that is bytes rather than JSON. */
export function isStreamContent(value: unknown): value is StreamContent {
  return typeof value === 'object' && value !== null && (value as StreamContent).stream === true;
}

/** The JSON schema part of a body or answer, or undefined for bytes and nothing. */
export function jsonSchemaOf(value: z.ZodType | StreamContent | null | undefined) {
  return value === null || value === undefined || isStreamContent(value) ? undefined : value;
}

/** The names of a path's `:params`, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

type SchemaOutput<S> = S extends z.ZodType ? z.output<S> : undefined;
type SchemaInput<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What a route's handler receives, parsed. */
export type ParamsOf<R extends RouteDeclaration> = SchemaOutput<R['params']>;
export type QueryOf<R extends RouteDeclaration> = SchemaOutput<R['query']>;
export type BodyOf<R extends RouteDeclaration> = R['body'] extends StreamContent
  ? unknown
  : SchemaOutput<R['body']>;
/** What a route answers: its JSON answer as parsed, or nothing for bytes and 204. */
export type AnswerOf<R extends RouteDeclaration> = R['answer'] extends z.ZodType
  ? z.output<R['answer']>
  : undefined;
/** What a route's handler may return for its JSON answer: the answer before defaults. */
export type AnswerInputOf<R extends RouteDeclaration> = R['answer'] extends z.ZodType
  ? z.input<R['answer']>
  : undefined;

/** A path parameter or query value as a caller gives it: text or a number. */
type Loose<T> = { [K in keyof T]: T[K] extends string | undefined ? T[K] | number : T[K] };

/** What a client sends: path parameters and query values as text or numbers, the body as JSON. */
export type ParamsInputOf<R extends RouteDeclaration> = Loose<SchemaInput<R['params']>>;
export type QueryInputOf<R extends RouteDeclaration> = Loose<SchemaInput<R['query']>>;
export type BodyInputOf<R extends RouteDeclaration> = SchemaInput<R['body']>;
