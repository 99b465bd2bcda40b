import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../src/report/render-html.js';
import { reportFixture } from './helpers/report-fixture.js';

/**
 * The HTML report as a person opens it: the file, in a real (headless)
 * Chromium, with every request and every error recorded. It must ask the
 * network for nothing, run nothing, show its findings and notes, and show
 * hostile text as text — on a desktop, on a phone's width and in print.
 *
 * Debian's chromium is needed (.ci/run installs it). Under CI=true a missing
 * one fails this suite; elsewhere it is skipped with a message.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const RUN = HAVE_CHROMIUM || process.env.CI === 'true';
if (!RUN) console.warn(`${CHROMIUM} is missing (apt-get install -y chromium): report-html SKIPPED`);

describe.skipIf(!RUN)('the HTML report in Chromium', () => {
  let browser: Browser;
  let folder: string;
  let url: string;
  let page: Page;
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    folder = await mkdtemp(path.join(os.tmpdir(), 'ferry-report-html-'));
    const file = path.join(folder, 'report-0.4.0.html');
    await writeFile(file, renderHtml(reportFixture()));
    url = pathToFileURL(file).href;
    browser = await chromium.launch({ executablePath: CHROMIUM });
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        errors.push(`console ${message.type()}: ${message.text()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it('asks for nothing but the file itself, and has no script and no error', async () => {
    expect(requests).toEqual([url]);
    expect(errors).toEqual([]);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.title()).toBe('Release report: label 0.4.0');
  });

  it('shows the findings, numbered, with their quoted lines', async () => {
    const findings = page.locator('#findings li.finding');
    expect(await findings.count()).toBe(4);
    const first = findings.nth(0);
    expect(await first.isVisible()).toBe(true);
    expect(await first.locator('h3').textContent()).toBe(
      "1. suggested: majorPostgreSQL warnings in back's migrate step",
    );
    expect(await first.locator('pre').innerText()).toBe(
      'WARNING:  relation "orders_id_seq" already exists, skipping',
    );
    expect(await findings.nth(2).locator('h3').innerText()).toContain('CONFIRMED: MINOR (NOTE #2)');
  });

  it('shows the notes by section, with their actions', async () => {
    const notes = page.locator('#notes');
    expect(await notes.getByText('No testing issues.').isVisible()).toBe(true);
    const blocker = notes.locator('li.note').first();
    expect(await blocker.isVisible()).toBe(true);
    expect(await blocker.locator('.text').innerText()).toBe(
      '1. BLOCKERmq@7 did not start on prod-mq-2: an old daemon still held port 5673.\n' +
        'Rolled back to mq@6. Output said <script>alert(1)</script>',
    );
    expect(await blocker.locator('.actions li').allInnerTexts()).toEqual([
      expect.stringMatching(/^☐ OPEN\s*dana: Stop the old daemon on prod-mq-2/),
      expect.stringMatching(/^☑ DONE\s*erik: Make mq's health check fail/),
    ]);
  });

  it('shows hostile text as text, and step output without its colours', async () => {
    expect(await page.locator('script, b, [onmouseover]').count()).toBe(0);
    expect(await page.getByText('payload was <script>alert(1)</script>').count()).toBe(1);
    const failure = page.locator('.failure pre');
    expect(await failure.isVisible()).toBe(true);
    expect(await failure.innerText()).toBe(
      [
        'Error: listen EADDRINUSE: address already in use 0.0.0.0:5673',
        '    at Server.setupListenHandle [as _listen2] (node:net:1817:16)',
        'payload was <script>alert(1)</script>',
        '```',
        'mq: giving up after 3 tries',
      ].join('\n'),
    );
    expect(await page.locator('.failure').innerText()).toMatch(
      /Full log: ferry logs ins_[0-9a-f]{16}/,
    );
  });

  it('fits a phone width without scrolling sideways, and keeps findings whole in print', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
      390,
    );
    await page.emulateMedia({ media: 'print' });
    const breakInside = await page.evaluate<string>(
      "getComputedStyle(document.querySelector('li.finding')).breakInside",
    );
    expect(breakInside).toBe('avoid');
    await page.emulateMedia({ media: 'screen' });
    expect(requests).toEqual([url]);
    expect(errors).toEqual([]);
  });
});
