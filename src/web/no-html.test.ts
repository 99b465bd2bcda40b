import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The dashboard renders what the server sends as text only, and the server's
 * Content-Security-Policy allows no inline script or style: no source file of
 * src/web may write HTML from a string or set a style attribute.
 */

const WEB = import.meta.dirname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return /\.(ts|tsx|html)$/.test(entry.name) && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

const FORBIDDEN = [
  /dangerouslySetInnerHTML/,
  /\.(inner|outer)HTML\b/,
  /insertAdjacentHTML/,
  /document\.write/,
  /\bstyle=/,
  /<script(?![^>]*\bsrc=)[^>]*>/,
  /\beval\(|new Function\(/,
];

describe('the dashboard sources', () => {
  it('never turn text into HTML, and set no inline style or script', () => {
    const files = sources(WEB);
    expect(files.length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const file of files) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (FORBIDDEN.some((pattern) => pattern.test(line))) {
            found.push(`${path.relative(WEB, file)}:${index + 1}: ${line.trim()}`);
          }
        });
    }
    expect(found).toEqual([]);
  });
});
