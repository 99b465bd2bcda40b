import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../src/client/ferry-client.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { storyAppTree } from './helpers/story-app.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';
import { browserFetch, chromiumTrustArgs, withProbePage } from './helpers/browser-trust.js';

/**
 * Issue 16's story, through the page, in a real (headless) Chromium against
 * one real `ferry server` with real agents — qa-1, qa-2 (qa deploys every
 * push, both hosts at once) and prod-1..3 (batches of one, so the rollout goes
 * host by host; one failed host tolerated): an admin signs in with a token and
 * watches a push reach QA live on the overview; `qa` sees promote disabled,
 * is refused when forcing it through the API with its session, and marks the
 * bundle passed; the admin promotes it and watches prod host by host; a
 * second bundle fails its health check on prod-2, which the overview and the
 * deployment page mark in words, and whose step output opens, stdout and
 * stderr apart, searched; prod is rolled back through the dialog; signing out
 * ends the session. Nothing may go to another origin, log an error or open a
 * dialog. It also takes the screenshots in docs/ (dashboard-*.png), so they
 * follow the page.
 *
 * Each service listens only once its host's gate file exists, so the test
 * holds a rollout at a host until the page has shown what it came to see: it
 * waits on the page, never on the clock. Needs the built dashboard (`npm run
 * build`) and Debian's chromium; under CI=true a missing chromium fails it.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || process.env.CI === 'true';
if (!RUN) console.warn(`${CHROMIUM} is missing (apt-get install -y chromium): web-story SKIPPED`);

const BUILT = fileURLToPath(new URL('../dist/web/index.html', import.meta.url));
const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const CONFIG = `
environments:
  - name: qa
    autoDeploy: true
    strategy: { batch: 2, maxFailures: 0, rollbackOnFailure: false }
  - name: prod
    requires: passed
    strategy: { batch: 1, maxFailures: 1, rollbackOnFailure: false }
`;
const QA = ['qa-1', 'qa-2'];
const PROD = ['prod-1', 'prod-2', 'prod-3'];
/** A rollout waits at a gated host's health check for as long as the page takes to show it. */
const GATED_HEALTH = '120s';
/** How long a step of the story may take on a loaded machine (a rollout of a few hosts). */
const ROLLOUT_MS = 90_000;
/** How long the page may take to show what it was asked for. */
const PAGE_MS = 30_000;
/** How long one step of the story may take. */
const STEP_MS = 4 * ROLLOUT_MS;

describe.skipIf(!RUN)('the dashboard story in Chromium', { timeout: STEP_MS }, () => {
  let gates: string;
  let cluster: Cluster;
  let admin: FerryClient;
  let qaToken: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  const requests: string[] = [];
  const problems: string[] = [];
  /** Console errors the story causes on purpose, each with why. */
  const expectedErrors: RegExp[] = [
    // Signed out, the page's GET /session answers 401, which the browser logs.
    /status of 401.*\/api\/v1\/session\)$/,
  ];

  /** Lets a host's service listen: its rollout goes on past the health check. */
  const openGate = (host: string) => writeFile(path.join(gates, host), '');

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build`);
    gates = await mkdtemp(path.join(os.tmpdir(), 'ferry-web-story-'));
    cluster = await Cluster.start({ config: CONFIG });
    origin = cluster.server.url;
    admin = new FerryClient(origin, cluster.server.adminToken, harnessTrust().clientOptions());
    await Promise.all(
      [...QA, ...PROD].map((name) =>
        cluster.addHost(name, name.split('-')[0]!, {
          roles: ['web'],
          vars: { GATE: path.join(gates, name), BREAK: name === 'prod-2' ? 'yes' : 'no' },
        }),
      ),
    );
    qaToken = await cluster.token('qa');

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
      if (!expectedErrors.some((expected) => expected.test(text)))
        problems.push(`console ${message.type()}: ${text}`);
    });
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
    if (gates !== undefined) await rm(gates, { recursive: true, force: true });
  });

  /** Signs in through the sign-in page with a token pasted in its field. */
  async function signIn(token: string, role: string): Promise<void> {
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.getByTestId('who').innerText(), { timeout: PAGE_MS })
      .toContain(`(${role})`);
  }

  async function signOut(): Promise<void> {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }

  /** Opens an app's page through the overview's link, as a person would. */
  async function openApp(): Promise<void> {
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.locator('[data-testid=matrix] tr[data-app=web] th a').click();
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
  }

  /** Opens, from the app page's list, the deployment of `version` to `env` of `kind`. */
  async function openDeployment(version: number, env: string, kind: string): Promise<void> {
    const row = page
      .locator('[data-testid=deployments] tbody tr')
      .filter({ has: page.locator('td', { hasText: new RegExp(`^${kind}$`) }) })
      .filter({ has: page.locator('td', { hasText: new RegExp(`^${env}$`) }) })
      .filter({ has: page.locator(`a`, { hasText: new RegExp(`^v${version} `) }) });
    await row.locator('a').first().click();
    await page.getByTestId('deployment-progress').waitFor();
  }

  const matrixCell = (env: string) =>
    page.locator(`[data-testid=matrix] tr[data-app=web] [data-env=${env}]`);
  const installRow = (host: string) => page.locator(`[data-testid=install-row][data-host=${host}]`);
  const step = (host: string, name: string, state: string) =>
    installRow(host).locator(`[data-step=${name}][data-state=${state}]`);
  const stepsOf = async (host: string) =>
    Promise.all(
      (await installRow(host).locator('[data-testid=step]').all()).map(
        async (b) => `${await b.getAttribute('data-step')} ${await b.getAttribute('data-state')}`,
      ),
    );
  const screenshot = (name: string) =>
    page.screenshot({ path: path.join(DOCS, name), animations: 'disabled', caret: 'hide' });

  it('1. an admin signs in by pasting a token', async () => {
    await page.goto(`${origin}/`);
    await signIn(cluster.server.adminToken, 'admin');
    expect(new URL(page.url()).pathname).toBe('/');
    // Asked as a yes or no, so that a failure does not print the token.
    expect(page.url().includes(cluster.server.adminToken)).toBe(false);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByText('No app yet').waitFor();
  });

  it('2. a push reaches QA live on the overview, without reloading', async () => {
    await page.evaluate('window.notReloaded = true');
    // As a developer would: the CLI, not the page.
    const version = await cluster.push(
      storyAppTree('one', { healthTimeout: GATED_HEALTH }),
      '1.0.0',
      {
        dir: 'one',
      },
    );
    expect(version).toBe(1);

    // Under way: the qa hosts wait at their health check (their gates are shut).
    const underWay = page.locator('[data-testid=active-deployment]');
    await underWay.waitFor({ timeout: ROLLOUT_MS });
    expect(await underWay.locator('a').innerText()).toBe('web@1 → qa');
    expect(await underWay.getByTestId('progress-words').innerText()).toBe('0 of 2 hosts done');
    await expect
      .poll(() => matrixCell('qa').locator('.desired').innerText(), { timeout: ROLLOUT_MS })
      .toContain('deploying v1');

    await Promise.all(QA.map(openGate));
    await expect
      .poll(() => matrixCell('qa').getByTestId('host-counts').innerText(), {
        timeout: ROLLOUT_MS,
      })
      .toBe('2 ok');
    expect(await matrixCell('qa').locator('.desired .version').innerText()).toBe('v1');
    expect(await matrixCell('qa').locator('.desired .badge').innerText()).toContain('pending');
    await page.getByTestId('none-under-way').waitFor({ timeout: ROLLOUT_MS });
    expect(await matrixCell('prod').innerText()).toContain('nothing deployed');
    expect(await page.evaluate<boolean>('window.notReloaded === true')).toBe(true);
  });

  it('3. qa sees promote disabled, is refused it by the API, and marks the bundle passed', async () => {
    await signOut();
    await signIn(qaToken, 'qa');
    await openApp();
    const row = page.locator('[data-testid=bundles] tr[data-version="1"]');
    const promote = row.getByTestId('promote');
    expect(await promote.isDisabled()).toBe(true);
    expect(await row.locator('.reason').last().innerText()).toBe(
      'needs admin or deployer — you are qa',
    );

    // Forced through the API with this session's cookie: without the page's CSRF token
    // the write is refused as such; with it, refused by the role.
    // From a page of its own in the same session: a refused request is logged
    // in the console of the page that made it, and this page's must stay clean.
    await withProbePage(page.context(), origin, async (probe) => {
      const session = await browserFetch(probe, `${origin}/api/v1/session`);
      const { csrfToken } = session.json<{ csrfToken: string }>();
      const promoteBody = { method: 'POST', body: { app: 'web', version: 1 } };
      const noCsrf = await browserFetch(probe, `${origin}/api/v1/promotions`, promoteBody);
      expect(noCsrf.status).toBe(403);
      expect(noCsrf.json<{ code: string }>().code).toBe('E_CSRF');
      const forced = await browserFetch(probe, `${origin}/api/v1/promotions`, {
        ...promoteBody,
        headers: { 'x-ferry-csrf': csrfToken },
      });
      expect(forced.status).toBe(403);
      expect(forced.json<{ code: string }>().code).toBe('E_FORBIDDEN');
    });
    const { deployments } = await admin.call('deployments', { query: { app: 'web', env: 'prod' } });
    expect(deployments).toEqual([]);

    await row.getByRole('button', { name: 'Mark passed…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Note (optional)').fill('greeting and health page checked');
    await dialog.getByRole('button', { name: 'Mark passed' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect
      .poll(() => row.locator('.badge').innerText(), { timeout: PAGE_MS })
      .toContain('passed');
    await expect
      .poll(() => page.getByTestId('verdict-history').innerText(), { timeout: PAGE_MS })
      .toMatch(/v1\s+✓ passed\s+by qa-\w+\s+“greeting and health page checked”/);
  });

  it('4. the admin promotes it and watches prod roll out host by host', async () => {
    await signOut();
    await signIn(cluster.server.adminToken, 'admin');
    await openApp();
    const row = page.locator('[data-testid=bundles] tr[data-version="1"]');
    await row.getByRole('button', { name: 'Promote to prod…' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByRole('heading').innerText()).toBe('Promote web@1 to prod?');
    await dialog.getByRole('button', { name: 'Promote to prod' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await openDeployment(1, 'prod', 'promote');
    expect(await page.locator('h1').innerText()).toContain('web@1 to prod');
    await page.evaluate('window.notReloaded = true');

    // One host at a time: each waits at its health check until its gate opens,
    // and the next has not begun until then.
    for (const [index, host] of PROD.entries()) {
      // A row fetches the steps it missed once it is in view.
      await installRow(host).scrollIntoViewIfNeeded();
      await step(host, 'health', 'running').waitFor({ timeout: ROLLOUT_MS });
      for (const later of PROD.slice(index + 1))
        expect(await installRow(later).innerText()).toContain('No step has run yet.');
      expect(await page.getByTestId('deployment-progress').innerText()).toMatch(
        new RegExp(`^${index} of 3 hosts done · 1 installing`),
      );
      await openGate(host);
      await step(host, 'health', 'succeeded').waitFor({ timeout: ROLLOUT_MS });
    }
    await page.getByText('3 of 3 hosts done').waitFor({ timeout: ROLLOUT_MS });
    await page.locator('h1 [data-state=succeeded]').waitFor({ timeout: ROLLOUT_MS });
    for (const host of PROD) {
      const steps = await stepsOf(host);
      expect(steps, host).toEqual(
        expect.arrayContaining(['fetch succeeded', 'start succeeded', 'health succeeded']),
      );
      expect(steps.indexOf('fetch succeeded')).toBeLessThan(steps.indexOf('health succeeded'));
    }
    expect(await page.evaluate<boolean>('window.notReloaded === true')).toBe(true);
  });

  it('5. a bundle that fails its health check on prod-2: the host is marked failed, and its step log opens and is searched', async () => {
    const version = await cluster.push(
      storyAppTree('two', { breakable: true, healthTimeout: '8s' }),
      '1.1.0',
      { dir: 'two' },
    );
    expect(version).toBe(2);
    await waitFor(
      "web@2's qa deployment to succeed",
      async () => {
        const { deployments } = await admin.call('deployments', {
          query: { app: 'web', env: 'qa' },
        });
        return deployments.find((d) => d.version === 2 && d.state === 'succeeded');
      },
      ROLLOUT_MS,
    );
    const marked = await cluster.ferry(['mark', 'web@2', 'passed', '--note', 'checkout works']);
    expect(marked.code, marked.stderr).toBe(0);

    await openApp();
    const row = page.locator('[data-testid=bundles] tr[data-version="2"]');
    await expect
      .poll(() => row.locator('.badge').innerText(), { timeout: PAGE_MS })
      .toContain('passed');
    await row.getByRole('button', { name: 'Promote to prod…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Promote to prod' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await openDeployment(2, 'prod', 'promote');

    // prod-2 fails; one failure is tolerated, so prod-3 goes on and the deployment is partial.
    await page.locator('h1 [data-state=partial]').waitFor({ timeout: ROLLOUT_MS });
    const prod2 = installRow('prod-2');
    expect(await prod2.getAttribute('class')).toContain('install-failed');
    expect(await prod2.locator('.badge').first().innerText()).toMatch(/✗\s*failed/);
    // The failed host is named with the step that failed, not the last one it ran.
    await expect
      .poll(() => page.getByTestId('failed-hosts').innerText(), { timeout: PAGE_MS })
      .toMatch(/prod-2 — health failed: health check failed: HTTP 503/);
    expect(await page.getByTestId('deployment-progress').innerText()).toMatch(
      /^2 of 3 hosts done · 1 failed/,
    );
    for (const host of ['prod-1', 'prod-3'])
      expect(await installRow(host).getAttribute('data-state')).toBe('succeeded');

    // A row fetches the steps it missed (those run before the page opened) once it is in view.
    await prod2.scrollIntoViewIfNeeded();
    await step('prod-2', 'health', 'failed').click();
    const logs = prod2.getByTestId('step-logs');
    await logs.waitFor();
    // A failed step opens on stderr, apart from stdout.
    expect(await logs.getByRole('tab', { name: /^stderr/ }).getAttribute('aria-selected')).toBe(
      'true',
    );
    expect(await logs.getByRole('tab', { name: /^stderr/ }).innerText()).toBe('stderr · 1 line');
    const stderr = logs.getByTestId('log-stderr');
    await stderr.getByText('health check failed').waitFor();
    expect(await stderr.innerText()).not.toContain('attempts in');
    await stderr.getByLabel('Search stderr').fill('HTTP 503');
    await expect
      .poll(() => stderr.getByTestId('log-stderr-position').innerText(), { timeout: PAGE_MS })
      .toBe('1 of 1');
    expect(await stderr.locator('mark.log-match-current').innerText()).toBe('HTTP 503');
    expect(
      await stderr.locator('.log-line:has(mark.log-match-current) .log-text').innerText(),
    ).toMatch(/^health check failed: HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/health/);
    await logs.getByRole('tab', { name: /^stdout/ }).click();
    const stdout = logs.getByTestId('log-stdout');
    await expect
      .poll(() => stdout.innerText(), { timeout: PAGE_MS })
      .toMatch(/\d+ attempts in \d+ ms/);
    expect(await stdout.innerText()).not.toContain('health check failed');
    // The picture of a deployment: the failed host and its searched log, in view.
    await logs.getByRole('tab', { name: /^stderr/ }).click();
    await prod2.scrollIntoViewIfNeeded();
    await screenshot('dashboard-deployment.png');

    // On the overview, prod-2 is failed in words, not only in colour.
    await page.getByRole('link', { name: 'Overview' }).click();
    await expect
      .poll(() => matrixCell('prod').getByTestId('host-counts').innerText(), {
        timeout: ROLLOUT_MS,
      })
      .toBe('2 ok · 1 failed');
    expect(await matrixCell('prod').getByTestId('hosts-not-ok').innerText()).toMatch(
      /✗\s*failed\s*prod-2/,
    );
    expect(await matrixCell('prod').locator('.desired .version').innerText()).toBe('v2');
    await screenshot('dashboard-overview.png');

    // The release's report says what failed where.
    await matrixCell('prod').locator('.desired .version').click();
    await page.getByRole('heading', { name: 'Release report: web@2', level: 1 }).waitFor();
    const failure = page.locator(
      '[data-testid=report-host][data-host=prod-2] [data-testid=report-failure]',
    );
    await expect
      .poll(() => failure.innerText(), { timeout: PAGE_MS })
      .toMatch(/failed at step health/);
    await screenshot('dashboard-report.png');
  });

  it('6. prod is rolled back through the dialog, and the overview shows it on v1 again', async () => {
    await openApp();
    const prod = page.locator('[data-testid=app-env][data-env=prod]');
    await expect
      .poll(() => prod.locator('.desired').innerText(), { timeout: PAGE_MS })
      .toContain('should run v2');
    await prod.getByTestId('rollback').click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByRole('heading', { level: 2 }).innerText()).toBe(
      'Roll web back in prod?',
    );
    expect(await dialog.getByLabel('Go back to').inputValue()).toBe('1');
    expect(await dialog.getByTestId('host-plan').locator('li').allInnerTexts()).toEqual([
      'prod-1: v2 → v1',
      'prod-2: stays on v1',
      'prod-3: v2 → v1',
    ]);
    await dialog.getByRole('button', { name: 'Roll back to v1' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await openDeployment(1, 'prod', 'rollback');
    expect(await page.locator('h1').innerText()).toContain('Rollback of web in prod to v1');
    await page.locator('h1 [data-state=succeeded]').waitFor({ timeout: ROLLOUT_MS });

    await page.getByRole('link', { name: 'Overview' }).click();
    await expect
      .poll(() => matrixCell('prod').getByTestId('host-counts').innerText(), {
        timeout: ROLLOUT_MS,
      })
      .toBe('3 ok');
    expect(await matrixCell('prod').locator('.desired .version').innerText()).toBe('v1');
    for (const host of PROD) expect(await cluster.health(host)).toMatchObject({ version: '1' });
  });

  it('7. signing out ends the session: its cookie no longer works', async () => {
    const cookie = (await context.cookies(origin)).find((c) => c.name === 'ferry_session');
    expect(cookie).toBeDefined();
    const before = await harnessFetch(`${origin}/api/v1/status`, {
      headers: { cookie: `ferry_session=${cookie!.value}` },
    });
    expect(before.status).toBe(200);
    await signOut();
    expect((await context.cookies(origin)).map((c) => c.name)).not.toContain('ferry_session');
    const after = await harnessFetch(`${origin}/api/v1/status`, {
      headers: { cookie: `ferry_session=${cookie!.value}` },
    });
    expect(after.status).toBe(401);
    await page.goto(`${origin}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it('asked nothing of another origin, logged no error, and opened no dialog', () => {
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !url.startsWith(`${origin}/`))).toEqual([]);
    expect(problems).toEqual([]);
  });
});
