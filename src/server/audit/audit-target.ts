import { AUDIT_TARGET_PARTS, type AuditTarget } from '../../protocol/audit-api.js';
import {
  AUDIT_UNREADABLE_FIELDS,
  type AuditDeclaration,
  type AuditSource,
} from '../../protocol/route-declaration.js';

/** What a target is read from: a request's input and its answer, each possibly absent. */
export interface AuditSources {
  params: unknown;
  query: unknown;
  body: unknown;
  answer: unknown;
}

/** The longest text an entry keeps of one part: a refused request may send anything. */
const MAX_PART_LENGTH = 200;

/**
 * The target of a write, as its route's audit declaration names it: each
 * part from the first of its sources that has a text or a number. Without a
 * declaration, the path parameters whose names are parts (`app`, `version`,
 * `name`, `id`…). A field named like a secret (`token`, `value`…) is never
 * read, whatever the declaration says; texts are cut at 200 characters.
 *
 * @example
 *   auditTargetOf({ target: { app: 'body.app', id: 'answer.id' } },
 *     { params: {}, query: {}, body: { app: 'cart' }, answer: { id: 'dep_1' } });
 *   // { app: 'cart', id: 'dep_1' }
 */
export function auditTargetOf(
  declaration: AuditDeclaration | undefined,
  sources: AuditSources,
): AuditTarget {
  const target: AuditTarget = {};
  if (declaration === undefined) {
    for (const part of AUDIT_TARGET_PARTS) {
      const value = partValue(read(sources.params, [part]));
      if (value !== undefined) target[part] = value;
    }
    return target;
  }
  for (const part of AUDIT_TARGET_PARTS) {
    const from = declaration.target[part];
    if (from === undefined) continue;
    for (const source of sourcesOf(from)) {
      const [where, ...path] = source.split('.') as [keyof AuditSources, ...string[]];
      const value = partValue(read(sources[where], path));
      if (value !== undefined) {
        target[part] = value;
        break;
      }
    }
  }
  return target;
}

/** The value at a path inside plain objects, or undefined; never through a secret's name. */
function read(from: unknown, path: readonly string[]): unknown {
  let node = from;
  for (const key of path) {
    if (AUDIT_UNREADABLE_FIELDS.has(key.toLowerCase())) return undefined;
    if (!isPlainObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function partValue(value: unknown): string | number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value !== '') return value.slice(0, MAX_PART_LENGTH);
  return undefined;
}

/**
 * An object of JSON, of a parsed schema or of the router's parameters (whose
 * prototype has no prototype): not a stream, a buffer, a map or an array.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/** The sources of one part: one, or several in the order they are tried. */
function sourcesOf(from: AuditSource | readonly AuditSource[]): readonly AuditSource[] {
  return typeof from === 'string' ? [from] : from;
}
