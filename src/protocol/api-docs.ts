import { z } from 'zod';
import { API_PREFIX } from './api.js';
import {
  isStreamContent,
  type RouteDeclaration,
  ROUTE_FEATURES,
  type RouteFeature,
  type StreamContent,
} from './route-declaration.js';
import { ROUTES } from './routes.js';

/** A JSON Schema, as far as the reference reads one. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

const FEATURE_TITLES: Record<RouteFeature, string> = {
  health: 'Health',
  bundles: 'Bundles',
  tokens: 'Tokens',
  environments: 'Environments',
  hosts: 'Hosts and installs',
  variables: 'Variables',
  verdicts: 'Verdicts',
  deployments: 'Deployments, status and history',
  notes: 'Notes and actions',
  drift: 'Drift between hosts',
  reports: 'Release reports',
  events: 'Live events',
  sessions: 'Dashboard sessions',
  audit: 'Audit log',
  alerts: 'Alerts',
  webhooks: 'Webhooks',
};

/**
 * `docs/api.md`: the HTTP API reference, made from the route declarations
 * (`npm run docs:api` writes it, formatted by Prettier; a test fails when the
 * file is stale).
 *
 * @example
 *   const markdown = renderApiDocs();
 */
export function renderApiDocs(routes: Readonly<Record<string, RouteDeclaration>> = ROUTES): string {
  const lines: string[] = [
    '# HTTP API',
    '',
    '<!-- Generated from src/protocol/routes.ts by `npm run docs:api`: do not edit by hand. -->',
    '',
    `Every route lives under \`${API_PREFIX}\`. A call sends its token as \`Authorization: Bearer <token>\`; only the routes marked _public_ answer without one, and each route names the token roles it takes (any other token gets \`403 E_FORBIDDEN\`). The dashboard sends its session cookie instead (see Dashboard sessions): then every call but GET and HEAD also carries the session's CSRF token as \`x-ferry-csrf\`. Bodies and answers are JSON unless a route says otherwise.`,
    '',
    'An error answers with its HTTP status and the body `{ code, message, details? }`; the codes are in [errors.md](errors.md). Input that does not match a route’s schema is `400 E_BAD_REQUEST`, naming each field.',
    '',
    `Types below are written TypeScript-like: \`name?\` is optional, \`a | b\` is either, \`T[]\` is a list. Path parameters and query values are text (a version is plain digits). Agents also hold a WebSocket at \`${API_PREFIX}/agent/connect\` (the built-in transport), which is not part of this reference.`,
    '',
    'Every call but GET is recorded in the audit log, refusals too, under its route’s name and with the target its declaration names (the Audit line; see [security.md](security.md#audit-log)).',
    '',
    'The typed client in `src/client/` calls each route by the name shown.',
    '',
  ];
  for (const feature of ROUTE_FEATURES) {
    const ofFeature = Object.entries(routes).filter(([, route]) => route.feature === feature);
    if (ofFeature.length === 0) continue;
    lines.push(`## ${FEATURE_TITLES[feature]}`, '');
    for (const [name, route] of ofFeature) lines.push(...renderRoute(name, route));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function renderRoute(name: string, route: RouteDeclaration): string[] {
  const lines = [`### \`${route.method} ${API_PREFIX}${route.path}\``, '', route.summary, ''];
  lines.push(`- Name: \`${name}\``);
  lines.push(
    `- Roles: ${route.roles === 'public' ? '_public_ (no token)' : route.roles.map((r) => `\`${r}\``).join(', ')}`,
  );
  lines.push(`- Answers: ${route.statuses.map(String).join(', ')}`);
  if (route.note !== undefined) lines.push(`- Note: ${route.note}`);
  if (route.method !== 'GET') lines.push(`- Audit: ${auditText(route)}`);
  lines.push('');
  if (route.params) lines.push(...section('Path parameters', route.params, 'input'));
  if (route.query) lines.push(...section('Query', route.query, 'input'));
  if (route.body) lines.push(...section('Body', route.body, 'input'));
  if (route.answer === null) lines.push('Answer: none (204).', '');
  else lines.push(...section('Answer', route.answer, 'output'));
  return lines;
}

/** What the audit log records of a write, besides who, from where and the outcome. */
function auditText(route: RouteDeclaration): string {
  const parts = Object.entries(route.audit?.target ?? {}).map(
    ([part, from]) =>
      `\`${part}\` from ${[from]
        .flat()
        .map((source) => `\`${source}\``)
        .join(' or ')}`,
  );
  return parts.length === 0 ? 'recorded, with no target' : `recorded; target ${parts.join(', ')}`;
}

function section(
  title: string,
  content: z.ZodType | StreamContent,
  io: 'input' | 'output',
): string[] {
  if (isStreamContent(content)) {
    return [`${title}: bytes, ${content.contentTypes.map((t) => `\`${t}\``).join(' or ')}.`, ''];
  }
  const schema = z.toJSONSchema(content, { io, unrepresentable: 'any' }) as JsonSchema;
  return [`${title}:`, '', '```text', typeText(schema, ''), '```', ''];
}

/** A JSON Schema as a TypeScript-like type, objects one field a line. */
function typeText(schema: JsonSchema, indent: string): string {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map((s) => typeText(s, indent)).join(' | ');
  if (schema.allOf) return schema.allOf.map((s) => typeText(s, indent)).join(' & ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const type = schema.type;
  if (Array.isArray(type)) return type.join(' | ');
  switch (type) {
    case 'object':
      return objectText(schema, indent);
    case 'array': {
      const item = schema.items ? typeText(schema.items, indent) : 'unknown';
      return item.includes(' ') && !item.startsWith('{') ? `(${item})[]` : `${item}[]`;
    }
    case 'string':
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return type;
    default:
      return 'unknown';
  }
}

function objectText(schema: JsonSchema, indent: string): string {
  const inner = `${indent}  `;
  const fields = Object.entries(schema.properties ?? {}).map(([key, value]) => {
    const optional = schema.required?.includes(key) ? '' : '?';
    return `${inner}${key}${optional}: ${typeText(value, inner)}`;
  });
  const extra = schema.additionalProperties;
  if (typeof extra === 'object' && Object.keys(extra).length > 0) {
    fields.push(`${inner}[key: string]: ${typeText(extra, inner)}`);
  } else if (extra !== false && fields.length === 0) {
    fields.push(`${inner}[key: string]: unknown`);
  }
  return fields.length === 0 ? '{}' : `{\n${fields.join('\n')}\n${indent}}`;
}
