#!/usr/bin/env node
// Renders the fixture release report (test/fixtures/report-0.4.0.json) as HTML
// and saves a full-page screenshot of it in headless Chromium: the picture in
// docs/reports.md. Run by hand after `npm run build` (it uses dist/), not in CI:
//
//   npm run build && node scripts/report-screenshot.mjs [out.png] [--width 1000]
//
// Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const widthAt = args.indexOf('--width');
const width = widthAt === -1 ? 1000 : Number(args.splice(widthAt, 2)[1]);
const out = args[0] ?? `${ROOT}docs/report-example.png`;

const { renderHtml } = await import(`${ROOT}dist/report/render-html.js`);
const { reportSchema } = await import(`${ROOT}dist/protocol/report-api.js`);
const report = reportSchema.parse(
  JSON.parse(readFileSync(`${ROOT}test/fixtures/report-0.4.0.json`, 'utf8')),
);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
});
try {
  const page = await browser.newPage({ viewport: { width, height: 800 } });
  await page.setContent(renderHtml(report), { waitUntil: 'load' });
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out} (${width} px wide)\n`);
} finally {
  await browser.close();
}
