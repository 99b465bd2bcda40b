import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Writes a source tree from a map of relative paths to contents and returns its
 * folder. `ferry.yml` is written like any other file.
 */
export async function makeTree(
  files: Record<string, string | Buffer>,
  into?: string,
): Promise<string> {
  const root = into ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-src-')));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return root;
}

/** A one-app source tree whose server.js carries `marker`, so each marker gives a distinct bundle. */
export function appTree(app: string, marker: string): Record<string, string> {
  return {
    'ferry.yml': `apps:\n  ${app}:\n    service: { command: node server.js }\n`,
    'server.js': `console.log(${JSON.stringify(marker)});\n`,
    'package.json': '{"name":"x","private":true}\n',
  };
}
