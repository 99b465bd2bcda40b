// Writes docs/api.md from the route declarations (src/protocol/routes.ts), as
// built in dist/: `npm run docs:api`. With --check, only says whether it is stale.
import { readFile, writeFile } from 'node:fs/promises';
import prettier from 'prettier';
import { renderApiDocs } from '../dist/protocol/api-docs.js';

const file = new URL('../docs/api.md', import.meta.url);
const options = (await prettier.resolveConfig(file)) ?? {};
const markdown = await prettier.format(renderApiDocs(), { ...options, parser: 'markdown' });
if (process.argv.includes('--check')) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== markdown) {
    console.error('docs/api.md is stale: run `npm run docs:api`');
    process.exit(1);
  }
} else {
  await writeFile(file, markdown);
  console.log('wrote docs/api.md');
}
