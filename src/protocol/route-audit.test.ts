import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AUDIT_UNREADABLE_FIELDS,
  type AuditSource,
  isStreamContent,
  type RouteDeclaration,
} from './route-declaration.js';
import { ROUTES } from './routes.js';

/**
 * The audit log is driven by the route declarations: every route that is not
 * a GET says how its target is named, and each source it names is a field
 * its schemas have (a renamed field would leave the log silently blank).
 */

const routes = Object.entries(ROUTES) as [string, RouteDeclaration][];

/** The problems of a table of routes: a write without an audit declaration, a source that names nothing. */
function auditProblems(table: [string, RouteDeclaration][]): string[] {
  const problems: string[] = [];
  for (const [name, route] of table) {
    if (route.method === 'GET') {
      if (route.audit !== undefined) problems.push(`${name}: a GET is not audited`);
      continue;
    }
    if (route.audit === undefined) {
      problems.push(`${name} (${route.method} ${route.path}) has no audit declaration`);
      continue;
    }
    for (const [part, from] of Object.entries(route.audit.target)) {
      for (const source of sourcesOf(from)) {
        const problem = sourceProblem(route, source);
        if (problem !== undefined) problems.push(`${name}: ${part} from ${source}: ${problem}`);
      }
    }
  }
  return problems;
}

function sourceProblem(route: RouteDeclaration, source: AuditSource): string | undefined {
  const [where, ...path] = source.split('.') as [string, ...string[]];
  if (path.length === 0) return 'names no field';
  if (path.some((key) => AUDIT_UNREADABLE_FIELDS.has(key.toLowerCase())))
    return 'is a secret, never read';
  const schema =
    where === 'params'
      ? route.params
      : where === 'query'
        ? route.query
        : where === 'body'
          ? route.body
          : route.answer;
  if (schema === undefined || schema === null || isStreamContent(schema))
    return `the route has no JSON ${where}`;
  return hasPath(schema, path) ? undefined : `the ${where} has no such field`;
}

/** Whether a zod schema's objects have a field at `path` (in any branch of a union). */
function hasPath(schema: z.ZodType, path: readonly string[]): boolean {
  if (path.length === 0) return true;
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable)
    return hasPath(schema.unwrap() as z.ZodType, path);
  if (schema instanceof z.ZodDefault) return hasPath(schema.unwrap() as z.ZodType, path);
  if (schema instanceof z.ZodPipe) return hasPath(schema.in as z.ZodType, path);
  if (schema instanceof z.ZodUnion)
    return (schema.options as z.ZodType[]).some((option) => hasPath(option, path));
  if (schema instanceof z.ZodObject) {
    const field = (schema.shape as Record<string, z.ZodType | undefined>)[path[0]!];
    return field !== undefined && hasPath(field, path.slice(1));
  }
  return false;
}

describe('the audit declarations of the routes', () => {
  it('every route but GET declares how its target is named, from fields its schemas have', () => {
    expect(auditProblems(routes)).toEqual([]);
  });

  it('finds a write declared without one, a source that names nothing, and a secret', () => {
    const write: RouteDeclaration = {
      feature: 'tokens',
      method: 'POST',
      path: '/things/:id',
      roles: ['admin'],
      summary: 'A write',
      params: z.object({ id: z.string() }),
      body: z.object({ name: z.string(), token: z.string() }),
      answer: z.object({ id: z.string() }),
      statuses: [201],
    };
    expect(auditProblems([['makeThing', write]])).toEqual([
      'makeThing (POST /things/:id) has no audit declaration',
    ]);
    const declared: RouteDeclaration = {
      ...write,
      audit: { target: { id: 'params.id', name: ['body.nmae', 'body.token'], app: 'query.app' } },
    };
    expect(auditProblems([['makeThing', declared]])).toEqual([
      'makeThing: name from body.nmae: the body has no such field',
      'makeThing: name from body.token: is a secret, never read',
      'makeThing: app from query.app: the route has no JSON query',
    ]);
  });
});

/** The sources of one part: one, or several in the order they are tried. */
function sourcesOf(from: AuditSource | readonly AuditSource[]): readonly AuditSource[] {
  return typeof from === 'string' ? [from] : from;
}
