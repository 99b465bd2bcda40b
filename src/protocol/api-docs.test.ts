import { readFileSync } from 'node:fs';
import prettier from 'prettier';
import { describe, expect, it } from 'vitest';
import { API_PREFIX } from './api.js';
import { renderApiDocs } from './api-docs.js';
import { ROUTES } from './routes.js';

const file = new URL('../../docs/api.md', import.meta.url);

async function generated(): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(renderApiDocs(), { ...options, parser: 'markdown' });
}

describe('docs/api.md', () => {
  it('is what `npm run docs:api` makes from the route declarations (run it when this fails)', async () => {
    expect(readFileSync(file, 'utf8')).toBe(await generated());
  });

  it('has a section for every declared route, with its roles', async () => {
    const doc = await generated();
    for (const [name, route] of Object.entries(ROUTES)) {
      expect(doc, name).toContain(`### \`${route.method} ${API_PREFIX}${route.path}\``);
      expect(doc, name).toContain(`- Name: \`${name}\``);
    }
  });

  it('changes when a declaration changes', () => {
    const changed = renderApiDocs({
      ...ROUTES,
      health: { ...ROUTES.health, summary: 'Something else.' },
    });
    expect(changed).not.toBe(renderApiDocs());
    expect(changed).toContain('Something else.');
  });
});
