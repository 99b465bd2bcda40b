import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The README and docs/ link to each other's sections: each relative link must
 * reach a file that exists and, with `#anchor`, a heading of that file (anchors
 * made as GitHub makes them). A section that moves or is renamed breaks a test
 * instead of a reader's click.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Pages made by other means than this repository's hand. `docs/api.md` is
 * generated from the route declarations in src/protocol/ (issue 14, item 1);
 * until that lands the README links to where it will be.
 */
const GENERATED = new Set(['docs/api.md']);

const PAGES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a page's headings, outside fenced blocks. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  markdown.split(/^```.*$/m).forEach((part, index) => {
    if (index % 2 === 1) return;
    for (const heading of part.matchAll(/^#{1,6} (.+)$/gm)) {
      const base = anchorOf(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      found.add(n === 0 ? base : `${base}-${n}`);
    }
  });
  return found;
}

/** The relative links of a page, outside fenced blocks and code spans. */
function links(markdown: string): string[] {
  return (
    markdown
      .split(/^```.*$/m)
      .filter((_, index) => index % 2 === 0)
      .join('\n')
      .replace(/`[^`]*`/g, '')
      .match(/\]\(([^)\s]+)\)/g) ?? []
  )
    .map((l) => l.slice(2, -1))
    .filter((l) => !/^[a-z]+:/.test(l));
}

describe.each(PAGES)('%s', (page) => {
  it('links only to files and headings that exist', () => {
    const problems: string[] = [];
    const text = readFileSync(path.join(ROOT, page), 'utf8');
    for (const link of links(text)) {
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target =
        file === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
      if (GENERATED.has(target) && !existsSync(path.join(ROOT, target))) continue;
      if (!existsSync(path.join(ROOT, target))) {
        problems.push(`${link}: no file ${target}`);
        continue;
      }
      if (
        anchor !== undefined &&
        !anchors(readFileSync(path.join(ROOT, target), 'utf8')).has(anchor)
      )
        problems.push(`${link}: no heading #${anchor} in ${target}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('anchors', () => {
  it('are made as GitHub makes them', () => {
    expect(anchorOf('`ferry agent`')).toBe('ferry-agent');
    expect(anchorOf('The manifest: `ferry.yml`')).toBe('the-manifest-ferryyml');
    expect(anchorOf('Store, transport and logs')).toBe('store-transport-and-logs');
    expect([...anchors('# A\n## B\n```\n# not a heading\n```\n## B\n')]).toEqual(['a', 'b', 'b-1']);
  });
});
