import { describe, expect, it } from 'vitest';
import { REPORT_CSP, escapeHtml, renderHtml } from './render-html.js';
import { emptyReport, reportFixture } from '../../test/helpers/report-fixture.js';

describe('renderHtml', () => {
  const html = renderHtml(reportFixture());

  it('is one page that loads nothing and runs nothing', () => {
    expect(
      html.startsWith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'),
    ).toBe(true);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`);
    expect(REPORT_CSP).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    expect(html).not.toMatch(
      /<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import|@font-face|\son\w+=/i,
    );
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/@media print \{[^]*break-inside: avoid/);
  });

  it('escapes every text of the report and cleans step output', () => {
    // eslint-disable-next-line no-control-regex
    expect(html).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(html).toContain('Output said &lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(html).toContain(
      '<pre><code>npm WARN deprecated &lt;script&gt;alert(1)&lt;/script&gt;@1.0.0: use ``` fences instead</code></pre>',
    );
    expect(html).toContain(
      '<pre><code>Error: listen EADDRINUSE: address already in use 0.0.0.0:5673\n' +
        '    at Server.setupListenHandle [as _listen2] (node:net:1817:16)\n' +
        'payload was &lt;script&gt;alert(1)&lt;/script&gt;\n```\nmq: giving up after 3 tries</code></pre>',
    );
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
    );
  });

  it('numbers findings with their impact, quoted lines and key', () => {
    const headings = [
      ...html.matchAll(
        /<h3>(\d+)\. <span class="impact impact-(\w+)">([^<]*)<\/span>([^<]*)<\/h3>/g,
      ),
    ];
    expect(headings.map((h) => [h[1], h[2], h[3], h[4]])).toEqual([
      ['1', 'major', 'suggested: major', 'PostgreSQL warnings in back&#39;s migrate step'],
      ['2', 'minor', 'suggested: minor', 'node differs between the hosts of qa'],
      [
        '3',
        'minor',
        'confirmed: minor (note #2)',
        'mq&#39;s stdout and stderr go to the same file',
      ],
      ['4', 'nil', 'suggested: nil', 'npm warnings in front&#39;s install step'],
    ]);
    expect(html).toContain(
      '<pre><code>WARNING:  relation &quot;orders_id_seq&quot; already exists, skipping</code></pre>',
    );
    expect(html).toContain(
      '<code>ferry note add --label 0.4.0 --finding warnings/back/migrate/postgres --impact major</code>',
    );
  });

  it('has the sections in order, notes by section with actions', () => {
    const order = ['id="summary"', 'id="findings"', 'id="notes"', 'id="environments"'].map((s) =>
      html.indexOf(s),
    );
    expect(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
    expect(html).toContain('<h3>Testing issues</h3>\n<p class="empty">No testing issues.</p>');
    expect(html).toMatch(
      /<span class="state state-open">&#9744; open<\/span><strong>dana<\/strong>: Stop the old daemon/,
    );
    expect(html).toMatch(
      /<span class="state state-done">&#9745; done<\/span><strong>erik<\/strong>/,
    );
    expect(html).toContain('<p>Full log: <code>ferry logs ins_');
  });

  it('escapes a hostile label in the title and says so when parts are empty', () => {
    const report = emptyReport();
    report.subject = { kind: 'label', label: `<b onmouseover="x">'0.4'</b>` };
    const page = renderHtml(report);
    expect(page).toContain(
      '<title>Release report: label &lt;b onmouseover=&quot;x&quot;&gt;&#39;0.4&#39;&lt;/b&gt;</title>',
    );
    expect(page).not.toContain('<b ');
    for (const words of [
      'No findings.',
      'No deployment issues.',
      'Nothing blocked.',
      'No environments.',
    ])
      expect(page).toContain(`<p class="empty">${words}</p>`);
  });
});
