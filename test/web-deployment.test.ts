import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { browserFetch, chromiumTrustArgs } from './helpers/browser-trust.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * The dashboard's deployment, hosts and report pages in a real (headless)
 * Chromium against a real `ferry server` with two real agents (qa-1, qa-2,
 * batches of one): a deployment followed live host by host, a failed host's
 * step output with stdout and stderr apart, searched, its hostile text shown
 * as text; a drifting runtime marked on the hosts page; the report's finding,
 * and a note added by a qa session appearing live on a second page.
 *
 * Needs the built dashboard (`npm run build`) and Debian's chromium. Under
 * CI=true a missing chromium fails the suite; elsewhere it is skipped.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || process.env.CI === 'true';
if (!RUN)
  console.warn(`${CHROMIUM} is missing (apt-get install -y chromium): web-deployment SKIPPED`);

const CONFIG = `
environments:
  - name: qa
    autoDeploy: false
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false }
  - { name: sandbox }
`;

/** Each host's python3, from a fake on the front of its agent's PATH: qa-2 drifts. */
const PYTHON: Record<string, string> = { 'qa-1': '3.11.2', 'qa-2': '3.12.0' };

const ESC = '\x1b';
const HOSTILE = '<script>alert(1)</script>';

/**
 * The app `shop` (role web): its install command prints colours and, in v2,
 * hostile text, a warning and 5 MB of lines, and fails on the host
 * whose `BREAK` is `yes`; in v1 it waits for the gate file first.
 */
function shopTree(options: {
  gate?: string;
  broken?: boolean;
  /** Each host's install waits for a gate of its own: this path and the host's name. */
  hostGates?: string;
  /** With a migration, which a rollback to a version before it crosses. */
  migrate?: boolean;
}): Record<string, string> {
  const install = [
    "const fs = require('node:fs');",
    `console.log(${JSON.stringify(`${ESC}[32minstalling${ESC}[0m shop`)});`,
  ];
  if (options.broken) {
    install.push(
      `console.log(${JSON.stringify(`${ESC}[31m${HOSTILE}${ESC}[0m and ${ESC}]8;;javascript:alert(2)\x07a link${ESC}]8;;\x07`)});`,
      "console.log('WARNING: shop config key legacy is deprecated');",
      // 5 MB of output, written at once: the log pane must not freeze on it.
      "let out = '';",
      "for (let i = 1; i <= 100000; i++) out += (i === 99000 ? 'needle-7 found here' : 'line ' + i + ' ' + 'x'.repeat(40)) + '\\n';",
      'process.stdout.write(out);',
      `console.error(${JSON.stringify(`${ESC}[1;31mERROR${ESC}[0m: cannot reach the payment gateway`)});`,
      // Not process.exit(): it would cut off the output still on its way down the pipe.
      "if (process.env.BREAK === 'yes') process.exitCode = 3;",
    );
  }
  const done = "console.log('installed');";
  // The host's name, from the release's place under its agent's root (…/hosts/<name>/…).
  const gate =
    options.hostGates !== undefined
      ? `${JSON.stringify(options.hostGates)} + process.cwd().split('/hosts/')[1].split('/')[0]`
      : options.gate !== undefined
        ? JSON.stringify(options.gate)
        : undefined;
  install.push(
    gate !== undefined
      ? `const wait = () => (fs.existsSync(${gate}) ? ${done.slice(0, -1)} : setTimeout(wait, 100)); wait();`
      : done,
  );
  return {
    'ferry.yml': [
      'apps:',
      '  shop:',
      '    role: web',
      '    install: [node install.js]',
      ...(options.migrate ? ['    migrate: [node migrate.js]'] : []),
      '    service:',
      '      command: node server.js',
      "      env: { SHOP_PORT: '${PORT}', SHOP_BREAK: '${BREAK}' }",
      '      stopTimeout: 5s',
      "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 10s, interval: 200ms }",
      '',
    ].join('\n'),
    'install.js': `${install.join('\n')}\n`,
    ...(options.migrate ? { 'migrate.js': "console.log('migrated');\n" } : {}),
    'server.js': [
      "const http = require('node:http');",
      'http',
      '  .createServer((request, response) => {',
      "    response.writeHead(200, { 'content-type': 'application/json' });",
      '    response.end(JSON.stringify({ ok: true, version: process.env.FERRY_VERSION }));',
      '  })',
      "  .listen(Number(process.env.SHOP_PORT), '127.0.0.1');",
      "process.on('SIGTERM', () => process.exit(0));",
      '',
    ].join('\n'),
  };
}

describe.skipIf(!RUN)('the deployment, hosts and report pages in Chromium', () => {
  let fakes: string;
  let gate: string;
  let cluster: Cluster;
  let browser: Browser;
  let admin: BrowserContext;
  let qa: BrowserContext;
  let page: Page;
  /** What must not happen on any page: an error, a dialog (a script ran), a request elsewhere. */
  const problems: string[] = [];
  /** Every request each page made, by URL path. */
  const requests: string[] = [];
  /** The failed deployment of v2, for the pages after it. */
  let failed: DeploymentRecord;
  /** The versions that landed in qa: the first one, and the one with a migration. */
  let first: number;
  let migrating: number;

  const watch = (p: Page) => {
    p.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    p.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    p.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    p.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin !== new URL(cluster.server.url).origin)
        problems.push(`request to ${url.href}`);
      requests.push(`${request.method()} ${url.pathname}`);
    });
    return p;
  };

  // From a page of the context (the browser's own fetch, which trusts the
  // server's key): the session cookie lands in the context.
  const signIn = async (context: BrowserContext, token: string) => {
    const origin = new URL(cluster.server.url).origin;
    const blank = await context.newPage();
    await blank.goto(`${origin}/api/v1/health`);
    const answer = await browserFetch(blank, `${origin}/api/v1/session`, {
      method: 'POST',
      body: { token },
    });
    await blank.close();
    expect(answer.status).toBe(201);
  };

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    fakes = await mkdtemp(path.join(os.tmpdir(), 'ferry-web-deployment-'));
    gate = path.join(fakes, 'gate');
    for (const [host, version] of Object.entries(PYTHON)) {
      await mkdir(path.join(fakes, host));
      const python = path.join(fakes, host, 'python3');
      await writeFile(python, `#!/bin/sh\necho "Python ${version}"\n`);
      await chmod(python, 0o755);
    }
    cluster = await Cluster.start({
      config: CONFIG,
      agentArgs: ({ name }) => ['--path', `${path.join(fakes, name)}:${process.env.PATH ?? ''}`],
    });
    await Promise.all([cluster.addHost('qa-1', 'qa'), cluster.addHost('qa-2', 'qa')]);
    await cluster.setVar('BREAK', 'no', { env: 'qa' });
    await cluster.setVar('BREAK', 'yes', { host: 'qa-2' });
    const qaToken = await cluster.token('qa');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumTrustArgs(cluster.server.dataDir),
    });
    admin = await browser.newContext({
      baseURL: cluster.server.url,
      viewport: { width: 1280, height: 800 },
    });
    qa = await browser.newContext({ baseURL: cluster.server.url });
    await signIn(admin, cluster.server.adminToken);
    await signIn(qa, qaToken);
    page = watch(await admin.newPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
    if (fakes !== undefined) await rm(fakes, { recursive: true, force: true });
  });

  it("shows a deployment's steps live, host by host, without fetching the deployment again", async () => {
    const version = (first = await cluster.push(shopTree({ gate }), '1.0.0'));
    const deployment = await cluster.api().deploy({ app: 'shop', version, env: 'qa' });
    const row = (host: string) => page.locator(`[data-testid=install-row][data-host=${host}]`);
    await page.goto(`/deployments/${deployment.id}`);
    // qa-1 waits in its install step (the gate); qa-2, in the next batch, has not begun.
    await row('qa-1').locator('[data-step=install][data-state=running]').waitFor();
    expect(await row('qa-2').innerText()).toContain('No step has run yet.');
    // The steps before the page opened are fetched once the row is in view.
    await row('qa-1').locator('[data-step=fetch][data-state=succeeded]').waitFor();
    expect(await page.getByTestId('deployment-progress').innerText()).toBe(
      '0 of 2 hosts done · 1 installing · 1 waiting',
    );
    // A step's output opened while the next step runs: the answer has that one running.
    await row('qa-1').locator('[data-step=fetch]').click();
    await row('qa-1').getByRole('heading', { name: 'qa-1 · fetch' }).waitFor();

    await writeFile(gate, '');
    await row('qa-2')
      .locator('[data-step=health][data-state=succeeded]')
      .waitFor({ timeout: 60_000 });
    await page.getByText('2 of 2 hosts done').waitFor();
    // The step that ran then, opened now that it ended, shows its end and all it wrote.
    await row('qa-1').locator('[data-step=install]').click();
    const installLogs = row('qa-1').getByTestId('step-logs');
    await installLogs.getByRole('heading', { name: 'qa-1 · install' }).waitFor();
    await expect
      .poll(() => installLogs.getByTestId('log-stdout').innerText())
      .toContain('installed');
    expect(await installLogs.locator('.step-logs-header .badge').innerText()).toContain(
      'succeeded',
    );
    const steps = async (host: string) =>
      Promise.all(
        (await row(host).locator('[data-testid=step]').all()).map(
          async (b) => `${await b.getAttribute('data-step')} ${await b.getAttribute('data-state')}`,
        ),
      );
    expect(await steps('qa-1')).toEqual(
      expect.arrayContaining(['fetch succeeded', 'install succeeded', 'health succeeded']),
    );
    const qa2 = await steps('qa-2');
    expect(qa2.indexOf('fetch succeeded')).toBeLessThan(qa2.indexOf('install succeeded'));
    expect(qa2.indexOf('install succeeded')).toBeLessThan(qa2.indexOf('health succeeded'));
    expect(await page.locator('h1 [data-state=succeeded]').count()).toBe(1);
    // Its end, from the events too: the record fetched when it began had none.
    await expect
      .poll(() => page.getByTestId('deployment-facts').innerText())
      .toMatch(/Finished\s+(just now|\d+ seconds? ago)/i);
    // The record was fetched when the page opened (and at most once more, when the event
    // stream opened); qa-2 had not begun then, so its steps, never fetched, came from events.
    const fetched = (what: string) => requests.filter((r) => r === `GET /api/v1/${what}`).length;
    expect(fetched(`deployments/${deployment.id}`)).toBeGreaterThanOrEqual(1);
    expect(fetched(`deployments/${deployment.id}`)).toBeLessThanOrEqual(2);
    const qa2Install = deployment.installs.find((i) => i.host === 'qa-2')!.id;
    expect(fetched(`installs/${qa2Install}`)).toBe(0);
    expect(qa2.length).toBeGreaterThanOrEqual(8);
    expect(problems).toEqual([]);
  }, 120_000);

  it("opens a failed host's step with stdout and stderr apart, finds a line, and shows hostile output as text", async () => {
    const version = await cluster.push(shopTree({ broken: true }), '2.0.0');
    const started = await cluster.api().deploy({ app: 'shop', version, env: 'qa' });
    failed = await waitFor('the deployment of v2 to fail', async () => {
      const record = await cluster.api().deployment(started.id);
      return record.state === 'failed' ? record : undefined;
    });
    await page.goto(`/deployments/${failed.id}`);
    const qa2 = page.locator('[data-testid=install-row][data-host=qa-2]');
    await qa2.waitFor();
    expect(await qa2.getAttribute('class')).toContain('install-failed');
    expect(await qa2.locator('.badge').first().innerText()).toContain('failed');
    expect(await page.getByTestId('failed-hosts').innerText()).toContain('qa-2');
    // Only the failed hosts, when asked.
    await page.getByLabel('Only failed hosts').check();
    const shownHosts = async () =>
      Promise.all(
        (await page.locator('[data-testid=install-row]').all()).map((r) =>
          r.getAttribute('data-host'),
        ),
      );
    await expect.poll(shownHosts).toEqual(['qa-2']);

    await qa2.locator('[data-step=install][data-state=failed]').click();
    const logs = qa2.getByTestId('step-logs');
    await logs.waitFor();
    // A failed step opens on stderr, which is apart from stdout.
    const stderrTab = logs.getByRole('tab', { name: /^stderr/ });
    expect(await stderrTab.getAttribute('aria-selected')).toBe('true');
    const stderr = logs.getByTestId('log-stderr');
    await stderr.getByText('cannot reach the payment gateway').waitFor();
    // The step's stderr: what the command wrote, then what the agent adds.
    expect(await stderr.locator('.log-text').allInnerTexts()).toEqual([
      'ERROR: cannot reach the payment gateway',
      '`node install.js` exited with code 3',
    ]);
    expect(await stderr.locator('.ansi-fg-red.ansi-bold').innerText()).toBe('ERROR');
    expect(await stderr.innerText()).not.toContain('installing');

    await logs.getByRole('tab', { name: /^stdout/ }).click();
    const stdout = logs.getByTestId('log-stdout');
    await stdout.getByText(HOSTILE).waitFor();
    expect(await stdout.locator('.ansi-fg-red').first().innerText()).toBe(HOSTILE);
    expect(
      await stdout.locator('.log-text').filter({ hasText: 'and a link' }).allInnerTexts(),
    ).toEqual([`${HOSTILE} and a link`]);
    expect(
      await page.locator('[data-testid=step-logs] script, [data-testid=step-logs] a').count(),
    ).toBe(0);
    for (const raw of ['\x1b', '[31m', 'javascript:'])
      expect(await stdout.innerText()).not.toContain(raw);
    // 100,000 lines and a few (the echoed command, four lines, 'installed' at the end),
    // but only those in view are elements.
    expect(await logs.getByRole('tab', { name: /^stdout/ }).innerText()).toBe(
      'stdout · 100005 lines',
    );
    expect(await stdout.locator('.log-line').count()).toBeLessThan(1000);

    await stdout.getByLabel('Search stdout').fill('needle-7');
    await expect.poll(() => stdout.getByTestId('log-stdout-position').innerText()).toBe('1 of 1');
    const match = stdout.locator('mark.log-match-current');
    await match.waitFor();
    expect(await match.innerText()).toBe('needle-7');
    expect(await match.isVisible()).toBe(true);
    // Scrolled to: the match is inside the log's visible box, near the end of 5 MB.
    const box = (await stdout.locator('.log-body').boundingBox())!;
    const at = (await match.boundingBox())!;
    expect(at.y).toBeGreaterThanOrEqual(box.y);
    expect(at.y + at.height).toBeLessThanOrEqual(box.y + box.height);
    const number = stdout.locator('.log-line:has(mark.log-match-current) .log-number');
    // After the echoed command, 'installing shop', the hostile line and the warning.
    expect(await number.textContent()).toBe('99004');
    // The address says what is open: it may be shared, and reloading opens it again.
    expect(new URL(page.url()).search).toBe(
      `?install=${failed.installs.find((i) => i.host === 'qa-2')!.id}&step=install`,
    );
    await page.reload();
    await page.getByTestId('step-logs').waitFor();
    // On a phone's width the page does not scroll sideways: the log scrolls in its pane.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 800 });
    // Another step of the host opens as its own: on stdout (it did not fail), no search.
    await page.getByTestId('log-stderr').getByLabel('Search stderr').fill('gateway');
    await page.locator('[data-testid=install-row][data-host=qa-2] [data-step=fetch]').click();
    const fetchLogs = page.getByTestId('step-logs');
    await fetchLogs.getByRole('heading', { name: 'qa-2 · fetch' }).waitFor();
    expect(
      await fetchLogs.getByRole('tab', { name: /^stdout/ }).getAttribute('aria-selected'),
    ).toBe('true');
    expect(await fetchLogs.getByLabel('Search stderr').inputValue()).toBe('');
    expect(problems).toEqual([]);
  }, 120_000);

  it('marks the value in which a host drifts from its environment on the hosts page', async () => {
    await page.goto('/hosts');
    const cell = page.locator(
      '[data-testid=host-row][data-host=qa-2] [data-field="runtime:python3"]',
    );
    await cell.and(page.locator('[data-drift=odd]')).waitFor({ timeout: 30_000 });
    expect(await cell.textContent()).toBe('≠differs: 3.12.0');
    expect(await cell.getAttribute('title')).toBe(
      "python3 differs among qa's web hosts: 3.11.2 on qa-1; 3.12.0 on qa-2",
    );
    expect(await cell.locator('.visually-hidden').textContent()).toBe('differs: ');
    const common = page.locator(
      '[data-testid=host-row][data-host=qa-1] [data-field="runtime:python3"]',
    );
    expect(await common.getAttribute('data-drift')).toBe('common');
    expect(await common.getAttribute('class')).toBeNull();
    expect(await page.getByTestId('drift').innerText()).toContain(
      "python3 differs among qa's web hosts",
    );
    // Filtered by words in the address.
    await page.getByLabel('Search').fill('qa-1');
    await expect.poll(() => page.getByTestId('hosts-count').innerText()).toBe('1 of 2 hosts');
    expect(new URL(page.url()).search).toBe('?q=qa-1');
    expect(problems).toEqual([]);
  }, 60_000);

  it("shows the report's finding and failure, and a qa session's note appears live on another page", async () => {
    const first = watch(await qa.newPage());
    const second = watch(await qa.newPage());
    await Promise.all([first.goto('/reports/shop/2'), second.goto('/reports/shop/2')]);
    // The page acted on is in front (a page behind gets its animation frames throttled,
    // which makes each click wait); the other only watches.
    await first.bringToFront();
    const warning = first.locator('[data-testid=finding][data-kind=warnings]');
    await warning.waitFor();
    expect(await warning.innerText()).toContain('WARNING: shop config key legacy is deprecated');
    const failure = first.locator(
      '[data-testid=report-host][data-host=qa-2] [data-testid=report-failure]',
    );
    expect(await failure.innerText()).toMatch(/failed at step install, exit code 3/);
    expect(await failure.locator('pre').innerText()).toBe(
      'ERROR: cannot reach the payment gateway\n`node install.js` exited with code 3',
    );
    expect(await failure.locator('pre .ansi-fg-red').innerText()).toBe('ERROR');
    await second.getByTestId('report-notes').waitFor();
    expect(await second.getByTestId('note').count()).toBe(0);
    // Times are relative, exact on hover — none printed as UTC text, as the CLI prints them.
    const UTC = /\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC/;
    expect(await first.locator('main').innerText()).not.toMatch(UTC);
    const pushed = first.getByTestId('path-stop').first().locator('time');
    expect(await pushed.innerText()).toMatch(/^(just now|\d+ (second|minute)s? ago)$/);
    expect(await pushed.getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await pushed.getAttribute('title')).not.toBe('');

    await first.getByTestId('add-note').click();
    const dialog = first.getByRole('dialog');
    await dialog.getByLabel('Impact').selectOption('major');
    await dialog.getByLabel('Text').fill(`Checkout breaks on qa-2 ${HOSTILE}`);
    await dialog.getByRole('button', { name: 'Add note' }).click();
    await dialog.waitFor({ state: 'detached' });
    const note = second.locator(
      '[data-testid=note-section][data-section=testing] [data-testid=note]',
    );
    await note.waitFor({ timeout: 15_000 });
    expect(await note.getByTestId('note-text').innerText()).toBe(
      `Checkout breaks on qa-2 ${HOSTILE}`,
    );
    expect(await note.locator('.badge').first().innerText()).toBe('major');
    expect(await second.locator('[data-testid=report-notes] script').count()).toBe(0);

    // An action on the note, then done: each write carries the page's CSRF token.
    const mine = first.locator('[data-testid=note]');
    await mine.getByRole('button', { name: 'Add an action' }).click();
    await dialog.getByLabel('Owner').fill('dana');
    await dialog.getByLabel('What to do').fill('Point qa-2 at the payment sandbox');
    await dialog.getByRole('button', { name: 'Add action' }).click();
    const action = second.getByTestId('note-action');
    await action.waitFor({ timeout: 15_000 });
    expect(await action.getAttribute('data-done')).toBe('false');
    await first.getByTestId('note-action').getByRole('button', { name: 'Mark done' }).click();
    await second.locator('[data-testid=note-action][data-done=true]').waitFor({ timeout: 15_000 });
    expect(await second.getByTestId('note-action').innerText()).toContain(
      'dana: Point qa-2 at the payment sandbox',
    );
    expect(await second.getByTestId('note').innerText()).not.toMatch(UTC);
    expect(await second.getByTestId('note').locator('time').count()).toBe(2);

    // The failure's link opens the failed step's output on its deployment's page.
    await failure.getByTestId('failure-log-link').click();
    await first.waitForURL(`**/deployments/${failed.id}?install=*&step=install`);
    await first.getByTestId('log-stderr').getByText('cannot reach the payment gateway').waitFor();
    await Promise.all([first.close(), second.close()]);
    expect(problems).toEqual([]);
  }, 60_000);

  it("follows a deployment's progress on the overview, with what happened while its record was on its way", async () => {
    // v3 waits at each host's own gate; it has a migration, for the rollback after it.
    const gates = path.join(fakes, 'gate-v3-');
    const version = (migrating = await cluster.push(
      shopTree({ hostGates: gates, migrate: true }),
      '3.0.0',
    ));
    const overview = watch(await admin.newPage());
    await overview.goto('/');
    await overview.getByTestId('none-under-way').waitFor();
    // The overview's first fetch of the deployment is answered as it was when asked,
    // but only once qa-1 has finished meanwhile (its events come while it waits).
    let asked = false;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await overview.route('**/api/v1/deployments/dep_*', async (route) => {
      asked = true;
      // Asked from here (Playwright's own requests would not trust the server's CA).
      const request = route.request();
      const response = await harnessFetch(request.url(), { headers: await request.allHeaders() });
      const body = Buffer.from(await response.arrayBuffer());
      await released;
      await route.fulfill({
        status: response.status,
        headers: Object.fromEntries(response.headers),
        body,
      });
    });
    const deployment = await cluster.api().deploy({ app: 'shop', version, env: 'qa' });
    try {
      await waitFor('the overview to ask for the deployment', () =>
        Promise.resolve(asked || undefined),
      );
      await writeFile(`${gates}qa-1`, '');
      await waitFor('qa-1 to finish', async () => {
        const record = await cluster.api().deployment(deployment.id);
        return record.installs.find((i) => i.host === 'qa-1')?.state === 'succeeded'
          ? true
          : undefined;
      });
      release();
      const words = overview.locator(
        `[data-deployment=${deployment.id}] [data-testid=progress-words]`,
      );
      // qa-2 waits at its gate: the deployment is under way, one host of two done.
      await expect.poll(() => words.innerText(), { timeout: 10_000 }).toBe('1 of 2 hosts done');
    } finally {
      release();
      await writeFile(`${gates}qa-2`, '');
    }
    await waitFor('v3 to land in qa', async () =>
      (await cluster.api().deployment(deployment.id)).state === 'succeeded' ? true : undefined,
    );
    await overview.getByTestId('none-under-way').waitFor({ timeout: 10_000 });
    await overview.close();
    expect(problems).toEqual([]);
  }, 120_000);

  it('rolls an environment back to a version its own deployments name, however busy the app is elsewhere', async () => {
    // 50 deployments of shop to sandbox (no host: each ends at once) after v3 landed in
    // qa: the app's latest 50 deployments name none of qa's.
    const api = cluster.api();
    for (let i = 0; i < 50; i++) {
      const started = await api.deploy({ app: 'shop', version: first, env: 'sandbox' });
      for (let record = started; ['pending', 'running'].includes(record.state);) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        record = await api.deployment(started.id);
      }
    }
    await page.goto('/apps/shop');
    // v3 landed in qa: it goes on to sandbox.
    const v3 = page.locator(`[data-testid=bundles] tr[data-version="${migrating}"]`);
    await expect.poll(() => v3.getByTestId('promote').innerText()).toBe('Promote to sandbox…');

    const qaEnv = page.locator('[data-testid=app-env][data-env=qa]');
    await qaEnv.getByTestId('rollback').click();
    const dialog = page.getByRole('dialog');
    const target = dialog.getByLabel('Go back to');
    await target.waitFor();
    // v2 failed in qa: v1 is the one before.
    expect(await target.locator('option').allInnerTexts()).toEqual([`v${first}`]);
    expect(await dialog.getByTestId('host-plan').innerText()).toBe(
      `qa-1: v${migrating} → v${first}\nqa-2: v${migrating} → v${first}`,
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(problems).toEqual([]);
  }, 120_000);
});
