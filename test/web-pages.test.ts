import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../src/client/ferry-client.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessTrust } from '../src/dev/harness-trust.js';
import { browserFetch, chromiumTrustArgs, withProbePage } from './helpers/browser-trust.js';

/**
 * The dashboard as a person uses it: the built page (dist/web) served by a
 * real `ferry server` with two qa hosts, in a real headless Chromium. Signing
 * in and out, the overview's matrix with a failed host, the app page's
 * actions by role, the activity page following the event stream — with every
 * request, console message and browser dialog recorded: nothing may go to
 * another origin, nothing may log an error, no script from the data may run.
 *
 * Debian's chromium is needed (.ci/run installs it). Under CI=true a missing
 * one fails this suite; elsewhere it is skipped with a message.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || process.env.CI === 'true';
if (!RUN) console.warn(`${CHROMIUM} is missing (apt-get install -y chromium): web-pages SKIPPED`);

const BUILT = fileURLToPath(new URL('../dist/web/index.html', import.meta.url));
const HOSTILE_LABEL = '<script>alert(1)</script>';
const CONFIG = `
environments:
  - name: qa
    autoDeploy: true
    strategy: { batch: 2, maxFailures: 1, rollbackOnFailure: false }
  - { name: prod, requires: passed }
`;

describe.skipIf(!RUN)('the dashboard in Chromium', () => {
  let cluster: Cluster;
  let admin: FerryClient;
  let qaToken: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  /** While this file exists, web@2 fails its health check (on qa-1, the host it runs on). */
  let sick: string;
  const requests: string[] = [];
  const problems: string[] = [];
  const dialogs: string[] = [];
  /** Console errors a test expects (a refused sign-in is a 401 the browser logs). */
  const expectedErrors: RegExp[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build`);
    cluster = await Cluster.start({ config: CONFIG });
    origin = cluster.server.url;
    admin = new FerryClient(origin, cluster.server.adminToken, harnessTrust().clientOptions());
    await cluster.addHost('qa-1', 'qa', { roles: ['web'], vars: { BREAK: 'no' } });
    await cluster.addHost('qa-2', 'qa', { roles: ['web'], vars: { BREAK: 'yes' } });
    qaToken = await cluster.token('qa');
    // v1 lands on both hosts; v2 fails its health check on qa-2 (BREAK=yes).
    await cluster.push(webAppTree('one'), HOSTILE_LABEL, { dir: 'one' });
    await settled(1);
    sick = path.join(cluster.work, 'web-two-sick');
    await cluster.push(
      webAppTree('two', {
        breakable: true,
        healthTimeout: '2s',
        sickFile: sick,
        healthEvery: '500ms',
      }),
      'two',
    );
    await settled(2);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumTrustArgs(cluster.server.dataDir),
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      const text = `${message.text()} (${message.location().url})`;
      if (!expectedErrors.some((expected) => expected.test(text))) {
        problems.push(`console ${message.type()}: ${text}`);
      }
    });
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
  });

  /** Waits until the qa deployment of a version has ended. */
  async function settled(version: number): Promise<void> {
    await waitFor(`web@${version}'s qa deployment to end`, async () => {
      const { deployments } = await admin.call('deployments', { query: { app: 'web', env: 'qa' } });
      const deployment = deployments.find((d) => d.version === version);
      return deployment && !['pending', 'running'].includes(deployment.state) ? true : undefined;
    });
  }

  /** Signed out, the page's GET /session is a 401, which the browser logs: expected only while `run` runs. */
  async function signedOut(run: () => Promise<void>): Promise<void> {
    const refused = /status of 401.*\/api\/v1\/session\)$/;
    expectedErrors.push(refused);
    try {
      await run();
    } finally {
      expectedErrors.splice(expectedErrors.indexOf(refused), 1);
    }
  }

  it('sends a person who is not signed in to sign in, and shows a wrong token refused', () =>
    signedOut(async () => {
      await page.goto(`${origin}/apps/web`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      expect(new URL(page.url()).pathname).toBe('/sign-in');
      expect(new URL(page.url()).searchParams.get('next')).toBe('/apps/web');

      await page.getByLabel('Token').fill('ferry_not-a-real-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const error = page.getByTestId('error');
      await expect.poll(() => error.textContent(), { timeout: 10_000 }).toContain('E_AUTH_INVALID');
      expect(await error.textContent()).not.toContain('not-a-real-token');
      expect(page.url()).not.toContain('token');
      expect(await page.getByLabel('Token').inputValue()).toBe('');
    }));

  it('signs in with a qa token and goes where the person was headed', async () => {
    await page.getByLabel('Token').fill(qaToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/apps/web');
    expect(page.url()).not.toContain(qaToken);
    expect(await page.getByTestId('who').innerText()).toContain('(qa)');
    // Nothing of the token is kept by the page.
    const stored = await page.evaluate<string>(
      'JSON.stringify({ ...localStorage, ...sessionStorage })',
    );
    expect(stored).not.toContain(qaToken);
    expect(await page.evaluate<string>('document.cookie')).toBe(''); // the session cookie is HttpOnly
  });

  it('shows a label with markup as text, and runs none of it', async () => {
    const row = page.locator('[data-testid=bundles] tr[data-version="1"]');
    expect(await row.locator('td.label').innerText()).toBe(HOSTILE_LABEL);
    expect(await page.locator('main script').count()).toBe(0);
    // Who signed it: the server, with its key's fingerprint in the cell's title.
    expect(await row.locator('td.signed').innerText()).toBe('server');
    expect(await row.locator('td.signed').getAttribute('title')).toMatch(/^server: SHA256:\S+$/);
    expect(dialogs).toEqual([]);
  });

  it('shows a qa session promote disabled, with the reason', async () => {
    const promote = page.locator(
      '[data-testid=bundles] tr[data-version="1"] [data-testid=promote]',
    );
    expect(await promote.isDisabled()).toBe(true);
    const reason = page.locator('[data-testid=bundles] tr[data-version="1"] .reason').last();
    expect(await reason.innerText()).toBe('needs admin or deployer — you are qa');
    // Roll back is an admin's or a deployer's too.
    const rollback = page.locator('[data-testid=app-env][data-env=qa] [data-testid=rollback]');
    expect(await rollback.isDisabled()).toBe(true);
  });

  it('marks a bundle passed through the confirm dialog; Escape cancels without marking', async () => {
    const row = page.locator('[data-testid=bundles] tr[data-version="1"]');
    expect(await row.locator('.badge').innerText()).toContain('pending');

    // Failing the release qa should run may also roll it back there — which a qa
    // session may not: offered disabled, with why, or the server refuses the whole mark.
    const { apps } = await admin.call('status', { query: { app: 'web' } });
    const desired = apps[0]!.environments.find((e) => e.env === 'qa')!.desired!.version;
    await page
      .locator(`[data-testid=bundles] tr[data-version="${desired}"]`)
      .getByRole('button', { name: 'Mark failed…' })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('checkbox').isDisabled()).toBe(true);
    expect(await dialog.getByTestId('rollback-reason').innerText()).toBe(
      'needs admin or deployer — you are qa',
    );
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    await row.getByRole('button', { name: 'Mark passed…' }).click();
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').innerText()).toBe('Mark web@1 passed?');
    // Focus starts in the dialog, on the note.
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('verdict-note');
    await dialog.getByLabel('Note (optional)').fill('checked by hand <b>ok</b>');
    await dialog.getByRole('button', { name: 'Mark passed' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await expect
      .poll(() => row.locator('.badge').innerText(), { timeout: 10_000 })
      .toContain('passed');
    const history = page.getByTestId('verdict-history');
    await expect
      .poll(() => history.innerText(), { timeout: 10_000 })
      .toContain('“checked by hand <b>ok</b>”');
    const { verdicts } = await admin.call('verdicts', { params: { app: 'web', version: 1 } });
    expect(verdicts.map((v) => [v.verdict, v.note])).toEqual([
      ['passed', 'checked by hand <b>ok</b>'],
    ]);
  });

  it('shows the matrix on the overview, with the failed host marked in words', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    const cell = page.locator('[data-testid=matrix] tr[data-app=web] [data-env=qa]');
    await cell.waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await cell.getByTestId('host-counts').innerText()).toContain('1 failed');
    const notOk = cell.getByTestId('hosts-not-ok');
    expect(await notOk.innerText()).toContain('✗ failed qa-2');
    // Each square, hovered, titles the picture with its host in words.
    const squares = cell.getByTestId('host-cells');
    expect(await squares.getAttribute('aria-label')).toBe('web in qa: 1 ok · 1 failed');
    const titles: string[] = [];
    for (const x of [4, 15]) {
      await squares.hover({ position: { x, y: 4 } });
      titles.push((await squares.getAttribute('title')) ?? '');
    }
    expect(titles.sort()).toEqual([
      expect.stringMatching(/^qa-1: ok — runs v\d/),
      expect.stringMatching(/^qa-2: failed — runs v1, desired v2, .*last install v2 failed/),
    ]);
    // Back and forward move between pages without reloading.
    await page.goBack();
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    await page.goForward();
    await cell.waitFor();
  });

  it('shows a host that falls ill after its rollout on the overview, the app page and its own page', async () => {
    // Continuous health (every 500 ms for web@2): no deployment, no install,
    // no event but host.health says so.
    const watch = async (where: string) => {
      const other = await context.newPage();
      other.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      await other.goto(`${origin}${where}`);
      return other;
    };
    const appPage = await watch('/apps/web');
    const hostPage = await watch('/hosts/qa-1');
    const hostsPage = await watch('/hosts');
    try {
      const overviewCounts = page.locator(
        '[data-testid=matrix] tr[data-app=web] [data-env=qa] [data-testid=host-counts]',
      );
      const appCounts = appPage.locator('[data-testid=app-env][data-env=qa] .host-counts');
      const health = hostPage.locator('[data-testid=host-runs] [data-testid=service-health]');
      const inList = hostsPage.locator(
        '[data-testid=host-row][data-host=qa-1] [data-testid=service-health]',
      );
      expect(await overviewCounts.innerText()).toBe('1 ok · 1 failed');
      await expect.poll(() => appCounts.innerText()).toBe('1 ok · 1 failed');
      await expect.poll(() => health.getAttribute('data-state')).toBe('healthy');
      await expect.poll(() => inList.getAttribute('data-state')).toBe('healthy');

      await writeFile(sick, '');
      await waitFor(
        "qa-1's report of its failing health",
        async () => {
          const { apps } = await admin.call('status', { query: { app: 'web' } });
          const qa = apps[0]!.environments.find((e) => e.env === 'qa')!;
          return qa.hosts.find((h) => h.host === 'qa-1')?.service?.state === 'failing'
            ? true
            : undefined;
        },
        60_000,
      );
      await expect.poll(() => overviewCounts.innerText(), { timeout: 10_000 }).toBe('2 failed');
      await expect.poll(() => appCounts.innerText(), { timeout: 10_000 }).toBe('2 failed');
      await expect
        .poll(() => health.getAttribute('data-state'), { timeout: 10_000 })
        .toBe('failing');
      // The hosts page too, with since when, and the answer in its title.
      await expect
        .poll(() => inList.getAttribute('data-state'), { timeout: 10_000 })
        .toBe('failing');
      expect(await inList.innerText()).toMatch(/failing\s+since \d\d:\d\d UTC/);
      expect(await inList.getAttribute('title')).toMatch(
        /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/health/,
      );
    } finally {
      await rm(sick, { force: true });
      await Promise.all([appPage.close(), hostPage.close(), hostsPage.close()]);
    }
  }, 120_000);

  it('shows a new event on the activity page as it happens, without reloading', async () => {
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
    await page.evaluate('window.notReloaded = true');
    expect(await page.getByTestId('history').innerText()).toContain('push');

    await admin.call('markVerdict', {
      params: { app: 'web', version: 2 },
      body: { verdict: 'failed', note: 'seen live' },
    });
    const live = page.getByTestId('live-events');
    await expect.poll(() => live.innerText(), { timeout: 15_000 }).toContain('seen live');
    expect(await live.innerText()).toContain('✗ failed');
    expect(await page.evaluate<boolean>('window.notReloaded === true')).toBe(true);
  });

  it('says when the connection is lost, and misses nothing of what happened meanwhile', async () => {
    // While the server restarts, the dropped stream, its refused reconnections (while
    // `blocked`) and any refetch that falls in the gap are logged by the browser.
    const restarting =
      /(ERR_INTERNET_DISCONNECTED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_REFUSED) \(.*\/api\/v1\/[^)]*\)$/;
    expectedErrors.push(restarting);
    let blocked = true;
    await page.route('**/api/v1/events**', (route) =>
      blocked ? route.abort('internetdisconnected') : route.continue(),
    );
    try {
      const banner = page.getByTestId('connection');
      expect(await banner.innerText()).toBe('');
      // The server dies and comes back: the page's stream drops.
      await cluster.restartServer();
      await expect
        .poll(() => banner.innerText(), { timeout: 15_000 })
        .toContain('Connection lost — reconnecting…');
      // This happens while the page cannot reconnect…
      await admin.call('markVerdict', {
        params: { app: 'web', version: 2 },
        body: { verdict: 'failed', note: 'while the page was away' },
      });
      blocked = false;
      // …and arrives when it does, resumed from the last event it saw.
      const live = page.getByTestId('live-events');
      await expect
        .poll(() => live.innerText(), { timeout: 30_000 })
        .toContain('while the page was away');
      await expect.poll(() => banner.innerText(), { timeout: 10_000 }).toBe('');
    } finally {
      blocked = false;
      await page.unroute('**/api/v1/events**');
      expectedErrors.splice(expectedErrors.indexOf(restarting), 1);
    }
  });

  it("fits a phone's width, and the keyboard reaches the content first", async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const [path, ready] of [
        ['/', '[data-testid=matrix]'],
        ['/apps/web', '[data-testid=bundles]'],
        ['/activity', '[data-testid=history]'],
        // A drifting value carries words for screen readers only, which must stay in the table's box.
        ['/hosts', '[data-testid=hosts-table] [data-drift=odd]'],
      ] as const) {
        await page.goto(`${origin}${path}`);
        await page.locator(ready).first().waitFor();
        // Wide tables scroll inside their own box; the page itself does not.
        expect(await page.evaluate<number>('document.documentElement.scrollWidth'), path).toBe(375);
      }
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement.textContent')).toBe(
        'Skip to content',
      );
      await page.keyboard.press('Enter');
      expect(await page.evaluate<string>('document.activeElement.id')).toBe('main');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('signs out: back to the sign-in page, and the session no longer counts', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    // From a page of its own: the refusal is logged in the console of the page that asked.
    const session = await withProbePage(page.context(), origin, (probe) =>
      browserFetch(probe, `${origin}/api/v1/session`),
    );
    expect(session.status).toBe(401);
    await signedOut(async () => {
      await page.goto(`${origin}/`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    });
  });

  it('asked nothing of another origin, logged no error, and opened no dialog', () => {
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !url.startsWith(`${origin}/`))).toEqual([]);
    expect(problems).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});
