import { describe, expect, it } from 'vitest';
import { FerryError } from '../protocol/errors.js';
import { manifestWarnings, parseManifest, selectApp, type ManifestProblem } from './manifest.js';
import { parseDuration } from './manifest-schema.js';

function problemsOf(text: string): ManifestProblem[] {
  try {
    parseManifest(text);
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('E_MANIFEST_INVALID');
    return (err as FerryError).details?.problems as ManifestProblem[];
  }
  throw new Error('manifest was accepted');
}

describe('parseManifest', () => {
  it('fills defaults and resolves the role to the app name', () => {
    const manifest = parseManifest(`
apps:
  cart:
    service: { command: node server.js }
    health: { http: "http://127.0.0.1:\${PORT}/health" }
`);
    const cart = manifest.apps.cart!;
    expect(cart.path).toBe('.');
    expect(cart.role).toBe('cart');
    expect(cart.keepReleases).toBe(5);
    expect(cart.exclude).toEqual([]);
    expect(cart.hooks.beforeStart).toEqual([]);
    expect(cart.service?.stopTimeout).toBe('10s');
    expect(cart.health?.expectStatus).toBe(200);
  });

  it('reports every problem at once, each with its key path and line', () => {
    const problems = problemsOf(`
apps:
  cart:
    path: /etc
    servce: { command: x }
    keepReleases: 0
    health: { http: "http://x", tcp: "127.0.0.1:1" }
  Bad_Name:
    install: npm ci
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        'apps.Bad_Name',
        'apps.Bad_Name.install',
        'apps.cart.health',
        'apps.cart.keepReleases',
        'apps.cart.path',
        'apps.cart.servce',
      ].sort(),
    );
    expect(byPath['apps.cart.servce']!.message).toContain('did you mean "service"');
    expect(byPath['apps.cart.keepReleases']!.message).toContain('at least 1');
    expect(byPath['apps.cart.keepReleases']!.line).toBe(6);
    expect(byPath['apps.cart.health']!.message).toContain('exactly one of http, tcp or command');
    expect(byPath['apps.Bad_Name.install']!.message).toContain('list of commands');
  });

  it('refuses an unknown top-level key and an empty apps map', () => {
    const problems = problemsOf('apps: {}\nversion: 2\n');
    expect(problems.map((p) => p.path).sort()).toEqual(['apps', 'version']);
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('apps:\n  cart:\n    path: [unclosed\n');
    expect(problems[0]!.path).toBe('(yaml)');
    expect(problems[0]!.line).toBeGreaterThan(0);
  });

  it('reads requires: runtime version ranges and commands', () => {
    const manifest = parseManifest(`
apps:
  cart:
    requires: { node: ">=20 <23", python: 3.11.x, pip: "^23", commands: [gunicorn, psql] }
  front: {}
`);
    expect(manifest.apps.cart!.requires).toEqual({
      node: '>=20 <23',
      python: '3.11.x',
      pip: '^23',
      commands: ['gunicorn', 'psql'],
    });
    expect(manifest.apps.front!.requires).toBeUndefined();
  });

  it('names each bad key of requires', () => {
    const problems = problemsOf(`
apps:
  cart:
    requires:
      node: ">=banana"
      python: 3.11
      ruby: "3"
      commands: [gunicorn, "rm -rf", /usr/bin/psql]
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual([
      'apps.cart.requires.commands.1',
      'apps.cart.requires.commands.2',
      'apps.cart.requires.node',
      'apps.cart.requires.python',
      'apps.cart.requires.ruby',
    ]);
    expect(byPath['apps.cart.requires.node']).toMatchObject({ line: 5 });
    expect(byPath['apps.cart.requires.node']!.message).toContain('expected a version range');
    // YAML reads 3.11 as a number: the message says to quote it as a range.
    expect(byPath['apps.cart.requires.python']!.message).toContain('in quotes');
    expect(byPath['apps.cart.requires.ruby']!.message).toContain('unknown key');
    expect(byPath['apps.cart.requires.commands.1']!.message).toContain('command name');
  });

  it('reads report.warnings, and names a pattern that is not a regular expression', () => {
    const manifest = parseManifest(`
apps:
  cart:
    report: { warnings: ["^SLOW QUERY", "deprecat(ed|ion)"] }
  front: {}
`);
    expect(manifest.apps.cart!.report).toEqual({ warnings: ['^SLOW QUERY', 'deprecat(ed|ion)'] });
    expect(manifest.apps.front!.report).toBeUndefined();
    const problems = problemsOf(`
apps:
  cart:
    report:
      warnings: ["ok", "[unclosed", 3]
      errors: []
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual([
      'apps.cart.report.errors',
      'apps.cart.report.warnings.1',
      'apps.cart.report.warnings.2',
    ]);
    expect(byPath['apps.cart.report.warnings.1']!.message).toContain(
      'expected a regular expression',
    );
    expect(byPath['apps.cart.report.warnings.1']).toMatchObject({ line: 5 });
  });

  it('names the bad duration', () => {
    const problems = problemsOf('apps:\n  cart:\n    service: { command: x, stopTimeout: soon }\n');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'apps.cart.service.stopTimeout', line: 3 });
    expect(problems[0]!.message).toContain('duration');
  });
});

describe('selectApp', () => {
  const manifest = parseManifest('apps:\n  cart: {}\n  front: {}\n');

  it('needs --app when several apps are defined', () => {
    expect(() => selectApp(manifest, undefined)).toThrow(
      expect.objectContaining({ code: 'E_MANIFEST_APP_AMBIGUOUS' }),
    );
  });

  it('refuses an app the manifest does not define', () => {
    expect(() => selectApp(manifest, 'back')).toThrow(
      expect.objectContaining({ code: 'E_MANIFEST_APP_UNKNOWN' }),
    );
  });

  it('returns the named app', () => {
    expect(selectApp(manifest, 'front')[0]).toBe('front');
  });
});

describe('parseDuration', () => {
  it('reads each unit', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
  });
});

describe('problems in line order', () => {
  it('lists an unknown key before a bad value further down, as a person reads the file', () => {
    const problems = problemsOf(`
apps:
  cart:
    bogus: 1
    keepReleases: -1
    service: { command: node server.js, stopSignal: SIGFOO }
`);
    expect(problems.map((p) => [p.path, p.line])).toEqual([
      ['apps.cart.bogus', 4],
      ['apps.cart.keepReleases', 5],
      ['apps.cart.service.stopSignal', 6],
    ]);
  });
});

describe('manifestWarnings', () => {
  it('warns of a service with no health check, and of nothing else', () => {
    const manifest = parseManifest(`
apps:
  cart:
    service: { command: node server.js }
  front:
    service: { command: node server.js }
    health: { tcp: "127.0.0.1:8080" }
  files: {}
`);
    expect(manifestWarnings('cart', manifest.apps.cart!)).toEqual([
      expect.stringContaining(
        'cart has a service but no health check: a release that starts and then crashes counts as a success',
      ),
    ]);
    expect(manifestWarnings('front', manifest.apps.front!)).toEqual([]);
    expect(manifestWarnings('files', manifest.apps.files!)).toEqual([]);
  });
});

describe('health.every', () => {
  const withEvery = (every: string) => `
apps:
  cart:
    service: { command: node server.js }
    health: { http: "http://127.0.0.1/health", every: ${every} }
`;

  it('is kept between 100ms and 1h: a longer timer fires at once in Node, a shorter one is a busy loop', () => {
    expect(parseManifest(withEvery('100ms')).apps.cart!.health?.every).toBe('100ms');
    expect(parseManifest(withEvery('1h')).apps.cart!.health?.every).toBe('1h');
    for (const every of ['99ms', '2h', '600h']) {
      const problems = problemsOf(withEvery(every));
      expect(problems.map((p) => [p.path, p.message])).toEqual([
        ['apps.cart.health.every', 'expected a duration between 100ms and 1h'],
      ]);
    }
  });
});
