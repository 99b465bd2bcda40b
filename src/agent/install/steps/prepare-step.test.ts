import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INSTALLED_MARKER } from '../release-files.js';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('prepareStep', () => {
  it('fills the manifest, and gives commands only the variables it refers to', async () => {
    const ctx = await fx.context({
      manifest: section({ install: ['echo ${GREETING}'] }),
      vars: { GREETING: 'hi', OTHER_APPS_SECRET: 'no' },
    });
    expect(ctx.failure).toBeUndefined();
    expect(ctx.manifest.install).toEqual(['echo hi']);
    expect(ctx.env.GREETING).toBe('hi');
    expect(ctx.env).not.toHaveProperty('OTHER_APPS_SECRET');
    expect(ctx.env).toMatchObject({
      FERRY_APP: APP,
      FERRY_VERSION: '2',
      LANG: 'C.UTF-8',
      // Install and migrate commands written in Python print as they go.
      PYTHONUNBUFFERED: '1',
    });
    expect(ctx.mode).toBe('fresh');
    expect(fx.reported()).toEqual([['prepare', true]]);
  });

  it('refuses a secret in a command line, naming it, before touching the host', async () => {
    const ctx = await fx.context({
      manifest: section({ install: ['login ${TOKEN}'] }),
      vars: { TOKEN: 's3cret-value' },
      secrets: ['TOKEN'],
    });
    expect(ctx.failure?.error).toContain('${TOKEN} in install');
    expect(fx.reported()).toEqual([['prepare', false]]);
    expect(fx.output()).not.toContain('s3cret-value');
  });

  it('tells which way the install goes: restart, reuse, or resume going back', async () => {
    await fx.installed(2, section());
    expect((await fx.context()).mode).toBe('restart');

    await fx.installed(1, section());
    const sha256 = 'b'.repeat(64);
    const release = path.join(fx.appsDir, APP, 'releases', '2');
    await mkdir(release, { recursive: true });
    await writeFile(path.join(release, INSTALLED_MARKER), `${sha256}\n`);
    const reuse = await fx.context({ sha256 });
    expect([reuse.mode, reuse.current, reuse.previous]).toEqual(['reuse', 1, 1]);
    expect((await fx.context({ sha256: 'c'.repeat(64) })).mode).toBe('fresh');

    // The journal knows better than `current` what ran before.
    const resumed = await fx.context({}, { previous: 0, reverting: { error: 'boom' } });
    expect([resumed.mode, resumed.previous]).toEqual(['resume-revert', 0]);
  });
});
