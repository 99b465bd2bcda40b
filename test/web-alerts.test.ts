import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './helpers/cluster.js';
import { chromiumTrustArgs } from './helpers/browser-trust.js';

/**
 * The dashboard's alerts page in a real Chromium, on a real server with a real
 * agent: the agent goes away past its (shortened) offline timeout, and the
 * page shows the open `host-away` alert as it is raised, without reloading;
 * the agent comes back, the alert leaves the open list and shows as cleared
 * among all. The page fits a phone's width; nothing logs an error.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || process.env.CI === 'true';
if (!RUN) console.warn(`${CHROMIUM} is missing (apt-get install -y chromium): web-alerts SKIPPED`);

const BUILT = fileURLToPath(new URL('../dist/web/index.html', import.meta.url));
const CONFIG = `alerts:
  checkEvery: 300ms
environments:
  - name: qa
    strategy: { offlineTimeout: 2s }
`;

describe.skipIf(!RUN)('the alerts page in Chromium', () => {
  let cluster: Cluster;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build`);
    cluster = await Cluster.start({ config: CONFIG });
    await cluster.addHost('qa-1', 'qa');
    await waitFor('qa-1 connected', async () =>
      (await cluster.api().hosts()).find((h) => h.name === 'qa-1' && h.connected),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumTrustArgs(cluster.server.dataDir),
    });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      const text = `${message.text()} (${message.location().url})`;
      // Signed out at first: the page's GET /session is a 401 the browser logs.
      if (!/status of 401.*\/api\/v1\/session\)$/.test(text)) problems.push(text);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
  });

  it('shows a host away as it is raised, and as cleared once it is back', async () => {
    await page.goto(`${cluster.server.url}/alerts`);
    await page.getByLabel('Token').fill(await cluster.token('qa'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    const count = page.getByTestId('alerts-count');
    await expect.poll(() => count.innerText(), { timeout: 10_000 }).toBe('No open alerts.');
    await page.evaluate('window.notReloaded = true');

    await cluster.stopAgent('qa-1', 'SIGTERM');
    const table = page.getByTestId('alerts');
    await expect.poll(() => count.innerText(), { timeout: 20_000 }).toBe('1 alert');
    const row = table.locator('tbody tr');
    expect(await row.getAttribute('data-open')).toBe('yes');
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[0]).toBe('host-away');
    expect(cells[1]).toBe('qa-1');
    expect(cells[3]).toBe('open');
    expect(cells[4]).toMatch(/^qa-1 is away since \d\d:\d\d UTC .*offline timeout of 2s$/);
    expect(await page.evaluate<boolean>('window.notReloaded === true')).toBe(true);

    await cluster.startAgentAgain('qa-1');
    await expect.poll(() => count.innerText(), { timeout: 20_000 }).toBe('No open alerts.');
    await page.getByLabel('Cleared ones too').check();
    await expect.poll(() => count.innerText(), { timeout: 10_000 }).toBe('1 alert');
    expect(await table.locator('tbody tr').getAttribute('data-open')).toBe('no');
    expect(new URL(page.url()).search).toBe('?all=1');

    // On a phone's width, the table scrolls in its own box; the page (and its navigation) fits.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBe(375);
    expect(problems).toEqual([]);
  }, 90_000);
});
