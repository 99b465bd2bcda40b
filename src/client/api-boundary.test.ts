import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The client is the only way to the HTTP API: no other module builds a URL of
 * it, calls `fetch` or `node:http` towards it, or reads its error bodies. This
 * reads every source file's syntax (strings, names, calls, imports) and names
 * each one that does.
 */

const SRC = path.resolve(import.meta.dirname, '..');

/** Where each thing may appear, by path from src/, with why. */
const ALLOWED = {
  /** Text holding the API's prefix. */
  apiPath: [
    'client/',
    // Defines API_PREFIX.
    'protocol/api.ts',
    // The built-in transport's WebSocket, which is the transport's and not an HTTP route.
    'transport/builtin/frames.ts',
  ],
  /** The name API_PREFIX. */
  apiPrefix: ['client/', 'protocol/', 'server/routes/route-plugin.ts'],
  /** Reading an error body: the catalogue's own test of a code, and the shape of the body. */
  errorBody: [
    'client/',
    'protocol/errors.ts',
    // The still-wanted question's refusal on the agent's connection carries an error code.
    'agent/install-wanted.ts',
  ],
  /** A call of the global fetch. */
  fetch: [
    'client/',
    // The sample app's /health, not the Ferry API.
    'demo/run-demo.ts',
    // A webhook's receiver: someone else's URL, not the Ferry API.
    'server/webhooks/webhook-sender.ts',
  ],
  /** Node's HTTP client modules. */
  httpModules: [
    'client/',
    'server/',
    'transport/',
    // An app's own health check, not the Ferry API (node:http rather than fetch: undici's memory).
    'agent/health/health-check.ts',
  ],
} as const;

interface Finding {
  rule: keyof typeof ALLOWED;
  file: string;
  line: number;
  text: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** What a file does that only the client may do, each with its line. */
function findings(file: string, text: string): Finding[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Finding[] = [];
  const add = (rule: Finding['rule'], node: ts.Node) =>
    found.push({
      rule,
      file,
      line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      text: node.getText().slice(0, 80),
    });
  const visit = (node: ts.Node): void => {
    if (
      (ts.isStringLiteral(node) ||
        ts.isNoSubstitutionTemplateLiteral(node) ||
        ts.isTemplateHead(node) ||
        ts.isTemplateMiddle(node) ||
        ts.isTemplateTail(node)) &&
      node.text.includes('/api/v')
    ) {
      if (ts.isImportDeclaration(node.parent)) {
        // A module specifier is not a URL.
      } else add('apiPath', node);
    }
    if (ts.isIdentifier(node)) {
      if (node.text === 'API_PREFIX') add('apiPrefix', node);
      if (node.text === 'isErrorCode' || node.text === 'ErrorBody') add('errorBody', node);
    }
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'fetch'
    ) {
      add('fetch', node);
    }
    if (
      ts.isImportDeclaration(node) &&
      ts.isStringLiteral(node.moduleSpecifier) &&
      /^(node:)?(http|https|http2|undici)$/.test(node.moduleSpecifier.text)
    ) {
      add('httpModules', node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function allowed(finding: Finding): boolean {
  const relative = path.relative(SRC, finding.file).split(path.sep).join('/');
  return ALLOWED[finding.rule].some((prefix) =>
    prefix.endsWith('/') ? relative.startsWith(prefix) : relative === prefix,
  );
}

describe('the API client boundary', () => {
  it('leaves URLs of the API, fetch and error bodies to src/client/', () => {
    const outside = sourceFiles(SRC)
      .flatMap((file) => findings(file, readFileSync(file, 'utf8')))
      .filter((finding) => !allowed(finding))
      .map((f) => `${path.relative(SRC, f.file)}:${f.line} ${f.rule}: ${f.text}`);
    expect(outside).toEqual([]);
  });

  it('finds each kind of thing it is there to find', () => {
    const text = [
      "import http from 'node:http';",
      "import { API_PREFIX, isErrorCode } from '../protocol/api.js';",
      'const url = `${server}/api/v1/agents/enroll`;',
      'await fetch(url);',
    ].join('\n');
    const rules = findings(path.join(SRC, 'agent', 'example.ts'), text).map((f) => f.rule);
    expect(new Set(rules)).toEqual(
      new Set(['httpModules', 'apiPrefix', 'errorBody', 'apiPath', 'fetch']),
    );
    expect(
      findings(path.join(SRC, 'agent', 'example.ts'), text).filter((f) => !allowed(f)),
    ).toHaveLength(rules.length);
  });

  it('keeps the core of the client free of Node modules, so it runs in a browser', () => {
    const seen = new Set<string>();
    const nodeModules: string[] = [];
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
      for (const statement of source.statements) {
        if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
        const specifier = statement.moduleSpecifier;
        if (!specifier || !ts.isStringLiteral(specifier)) continue;
        const name = specifier.text;
        if (name.startsWith('.'))
          walk(path.resolve(path.dirname(file), name.replace(/\.js$/, '.ts')));
        else if (name !== 'zod') nodeModules.push(`${path.relative(SRC, file)}: ${name}`);
      }
    };
    walk(path.join(SRC, 'client', 'ferry-client.ts'));
    expect(seen.size).toBeGreaterThan(3);
    expect(nodeModules).toEqual([]);
  });
});
