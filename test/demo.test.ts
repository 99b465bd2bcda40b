import { execFileSync } from 'node:child_process';
import { access, readdir, readlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCommand } from './helpers/ferry-process.js';

describe('npx ferry demo --exit', () => {
  it('runs the whole story with six agents, narrating each step, and cleans up after itself', async () => {
    // The README's first command, in the project's folder.
    const result = await runCommand('npx', ['ferry', 'demo', '--exit'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    // npm's own warnings about the machine's npm configuration are not the demo's.
    const demoErrors = result.stderr.split('\n').filter((l) => l && !l.startsWith('npm warn'));
    expect(demoErrors).toEqual([]);
    expect(result.code, result.stdout).toBe(0);
    const out = result.stdout;
    const root = /six agents \(1 dev, 2 qa, 3 prod\) under (\S+)/.exec(out)?.[1];
    expect(root).toBeDefined();
    for (const host of ['dev-1', 'qa-1', 'qa-2', 'prod-1', 'prod-2', 'prod-3']) {
      expect(out).toMatch(
        new RegExp(
          `^    ${host}\\s+\\w+\\s+root ${root}/hosts/${host}, serves on 127\\.0\\.0\\.1:\\d+$`,
          'm',
        ),
      );
    }
    // Where the dashboard is, and how to sign in: over HTTPS, with nothing configured,
    // the server being its own CA.
    expect(out).toMatch(
      /^ {4}dashboard https:\/\/127\.0\.0\.1:\d+\/ — sign in by pasting the admin token$/m,
    );
    expect(out).toMatch(
      /^ {4}HTTPS with the server's own CA sha256:[0-9a-f]{64}: a browser trusts it once you import \S+\/server\/tls\/ca\.pem$/m,
    );
    // Pushed, deployed to qa by itself, passed, promoted to prod host by host.
    expect(out).toContain('ferry push → hello@1 (label 1.0.0');
    expect(out).toMatch(/auto-deploy hello@1 to qa \(dep_\w+\): 2 hosts/);
    expect(out).toContain('succeeded: hello@1 runs on qa-1, qa-2');
    expect(out).toContain('ferry mark hello@1 passed → passed (was pending)');
    expect(out).toContain('succeeded: hello@1 runs on prod-1, prod-2, prod-3');
    // The broken version stops at qa's first host, is failed by the server, and cannot reach prod.
    expect(out).toMatch(/qa-1 {2}batch 1 {2}@2 {2}failed: health check failed/);
    expect(out).toMatch(/qa-2 {2}batch 2 {2}@2 {2}cancelled: the rollout stopped before this host/);
    expect(out).toContain('ferry verdicts hello@2 → failed by ferry: install failed on qa-1 in qa');
    expect(out).toContain(
      'refused: hello@2 is failed; the prod environment takes only bundles marked passed [E_VERDICT_REQUIRED]',
    );
    // The fix goes through; the rollback is a switch and a restart.
    expect(out).toContain('succeeded: hello@3 runs on prod-1, prod-2, prod-3');
    // Going back across hello@3's migration asks first; the rollback then migrates nothing.
    expect(out).toMatch(
      /→ refused: Migrations ran in prod since hello@1: hello@3 \(on prod-1, .*\[E_ROLLBACK_OVER_MIGRATIONS\]/,
    );
    expect(out).toContain(
      "prod-1's steps: prepare → reuse → verify → switch → start → health → service-output → prune",
    );
    expect(out).toMatch(/prod-1 answers \{"ok":true,"version":"1"/);
    expect(out).toMatch(/^ {6}prod: hello@1 \(passed\)$/m);
    expect(out).toMatch(/rollback\s+hello@1\s+prod\s+rollback succeeded/);
    expect(out).toContain('Demo stopped');
    // "Where to look" points at nothing that --exit removes, and says what keeps it.
    const look = out.slice(out.indexOf('==> Where to look'));
    expect(look).not.toContain(`${root}/hosts`);
    expect(look).toContain('`ferry demo --exit --dir DIR` keeps');
    expect(look).toMatch(/^ {4}https:\/\/127\.0\.0\.1:\d+\/ +# the dashboard, in a browser/m);
    // The browser does not know the demo server's own CA: it is told which file holds it.
    expect(look).toMatch(/the browser warns: .*ca\.pem/);

    // Nothing is left behind: no folder, and no process of the demo's.
    await expect(access(root!)).rejects.toThrow();
    const processes = execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(root!) && !line.startsWith('Z'));
    expect(processes).toEqual([]);
    // The services ran in the hosts' release folders: none still runs there.
    const inRoot: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      if (cwd.startsWith(root!)) inRoot.push(`${pid} in ${cwd}`);
    }
    expect(inRoot).toEqual([]);
  }, 240_000);
});
