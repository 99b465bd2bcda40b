import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { FerryError } from '../protocol/errors.js';
import { type AppManifest, type Manifest, manifestSchema } from './manifest-schema.js';

/** The manifest's file names, in the order they are looked for. */
export const MANIFEST_FILES = ['ferry.yml', 'ferry.yaml'] as const;

/** One thing wrong with a manifest: where, and what was expected. */
export interface ManifestProblem {
  path: string;
  line?: number;
  message: string;
}

/** A manifest read from disk, with the folder it was found in. */
export interface LoadedManifest {
  file: string;
  root: string;
  manifest: Manifest;
}

/**
 * Reads and validates the manifest in `dir`.
 * Throws `E_MANIFEST_NOT_FOUND`, or `E_MANIFEST_INVALID` listing every problem at once.
 */
export async function loadManifest(dir: string): Promise<LoadedManifest> {
  for (const name of MANIFEST_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    return { file, root: path.resolve(dir), manifest: parseManifest(text, file) };
  }
  throw new FerryError('E_MANIFEST_NOT_FOUND', `No ferry.yml in ${dir}`, { dir });
}

/** Validates manifest text; `file` names it in errors. */
export function parseManifest(text: string, file = 'ferry.yml'): Manifest {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      path: '(yaml)',
      line: lineCounter.linePos(e.pos[0]).line,
      message: e.message.split('\n')[0] ?? e.message,
    }));
    throw invalid(file, problems);
  }
  const result = manifestSchema.safeParse(doc.toJS());
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => describeIssue(issue));
    for (const problem of problems) {
      const node = doc.getIn(problem.path === '' ? [] : problem.path.split('.'), true) as
        { range?: [number, number, number] } | undefined;
      if (node?.range) problem.line = lineCounter.linePos(node.range[0]).line;
    }
    // The schema reports in its own order (unknown keys last): a person reads
    // the file from the top, so the problems are listed in line order.
    throw invalid(file, inLineOrder(problems));
  }
  const apps: Record<string, AppManifest> = {};
  for (const [name, app] of Object.entries(result.data.apps)) {
    apps[name] = { ...app, role: app.role ?? name };
  }
  return { apps };
}

/**
 * Picks one app of a manifest: the one named, or the only one.
 * Throws `E_MANIFEST_APP_UNKNOWN` or `E_MANIFEST_APP_AMBIGUOUS`.
 */
export function selectApp(manifest: Manifest, name: string | undefined): [string, AppManifest] {
  const names = Object.keys(manifest.apps);
  if (name === undefined) {
    if (names.length === 1) return [names[0]!, manifest.apps[names[0]!]!];
    throw new FerryError(
      'E_MANIFEST_APP_AMBIGUOUS',
      `ferry.yml defines ${names.length} apps (${names.join(', ')}); choose one with --app`,
      { apps: names },
    );
  }
  const app = manifest.apps[name];
  if (!app) {
    throw new FerryError(
      'E_MANIFEST_APP_UNKNOWN',
      `ferry.yml defines no app "${name}"; it defines: ${names.join(', ')}`,
      { app: name, apps: names },
    );
  }
  return [name, app];
}

/**
 * What is allowed in an app's section but probably not meant, as lines a
 * person reads before pushing: an app with a service and no health check.
 *
 * @example
 *   manifestWarnings('cart', app) // ['cart has a service but no health check: ...']
 */
export function manifestWarnings(
  name: string,
  app: Pick<AppManifest, 'service' | 'health'>,
): string[] {
  const warnings: string[] = [];
  if (app.service && !app.health) {
    warnings.push(
      `${name} has a service but no health check: a release that starts and then crashes ` +
        'counts as a success. Add health: { http | tcp | command } to its section of ferry.yml',
    );
  }
  return warnings;
}

/** Problems sorted by line, stably; a problem with no line keeps its place after those with one. */
function inLineOrder(problems: ManifestProblem[]): ManifestProblem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort(
      (a, b) =>
        (a.problem.line ?? Number.MAX_SAFE_INTEGER) - (b.problem.line ?? Number.MAX_SAFE_INTEGER) ||
        a.index - b.index,
    )
    .map(({ problem }) => problem);
}

function invalid(file: string, problems: ManifestProblem[]): FerryError {
  const lines = problems.map(
    (p) => `  ${p.path || '(top)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`,
  );
  return new FerryError(
    'E_MANIFEST_INVALID',
    `${path.basename(file)} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
    { file, problems },
  );
}

const KNOWN_KEYS = [
  'apps',
  'path',
  'exclude',
  'role',
  'install',
  'runtime',
  'reuseDependencies',
  'migrate',
  'service',
  'health',
  'hooks',
  'shared',
  'keepReleases',
  'requires',
  'node',
  'npm',
  'python',
  'pip',
  'commands',
  'command',
  'env',
  'stopSignal',
  'stopTimeout',
  'http',
  'tcp',
  'expectStatus',
  'contains',
  'timeout',
  'interval',
  'beforeInstall',
  'afterInstall',
  'beforeStart',
  'afterStart',
  'validate',
];

function describeIssue(issue: z.core.$ZodIssue): ManifestProblem[] {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const guess = closest(key);
      return {
        path: at ? `${at}.${key}` : key,
        message: `unknown key${guess ? ` (did you mean "${guess}"?)` : ''}`,
      };
    });
  }
  if (issue.code === 'invalid_key') {
    return [{ path: at, message: issue.issues[0]?.message ?? issue.message }];
  }
  if (issue.code === 'invalid_value') {
    return [
      { path: at, message: `expected one of ${issue.values.map((v) => String(v)).join(', ')}` },
    ];
  }
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    const received = issue.input === undefined ? 'nothing' : typeof issue.input;
    return [{ path: at, message: `expected ${issue.expected}, got ${received}` }];
  }
  return [{ path: at, message: issue.message }];
}

function closest(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of KNOWN_KEYS) {
    const d = editDistance(key.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
