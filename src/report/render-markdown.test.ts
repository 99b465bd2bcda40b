import { describe, expect, it } from 'vitest';
import {
  markdownCode,
  markdownCodeBlock,
  markdownLines,
  markdownText,
  renderMarkdown,
} from './render-markdown.js';
import { emptyReport, reportFixture } from '../../test/helpers/report-fixture.js';

/**
 * The Markdown with its code taken out as CommonMark reads it: fenced blocks
 * (closed by a fence at least as long as the opening one) and code spans
 * (closed by a run of exactly as many backticks). What is left is what a
 * renderer reads as text and markup; each piece of code is kept for checks.
 */
function splitCode(markdown: string): { prose: string; code: string[] } {
  const code: string[] = [];
  const prose: string[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})[^`]*$/.exec(lines[i]!);
    if (open === null) {
      prose.push(lines[i]!);
      continue;
    }
    const block: string[] = [];
    for (
      i += 1;
      i < lines.length && !new RegExp(`^\`{${open[1]!.length},}\\s*$`).test(lines[i]!);
      i++
    )
      block.push(lines[i]!);
    code.push(block.join('\n'));
  }
  let text = prose.join('\n');
  let rest = '';
  for (;;) {
    const run = /(?<![`\\])`+/.exec(text);
    if (run === null) break;
    const after = text.slice(run.index + run[0].length);
    const close = new RegExp(`(?<!\`)\`{${run[0].length}}(?!\`)`).exec(after);
    if (close === null) {
      rest += text.slice(0, run.index + run[0].length);
      text = after;
      continue;
    }
    code.push(after.slice(0, close.index));
    rest += `${text.slice(0, run.index)}CODE`;
    text = after.slice(close.index + close[0].length);
  }
  return { prose: rest + text, code };
}

describe('renderMarkdown', () => {
  const md = renderMarkdown(reportFixture());
  const { prose, code } = splitCode(md);

  it('has the title, the sections in order and the summary', () => {
    expect(
      md.startsWith('# Release report: label 0.4.0\n\nGenerated 2025-03-04 14:05 UTC.\n'),
    ).toBe(true);
    const headings = md.split('\n').filter((l) => /^## /.test(l));
    expect(headings).toEqual(['## Summary', '## Findings', '## Notes', '## Environments']);
    expect(md).toContain('| prod | mq@7 | 2 | 1 | 1 | 2 | 0 | 0 |');
    expect(md).toContain('4 findings, 2 open notes, 2 open actions.');
    expect(md).toContain('(lead time 2 h 11 min)');
  });

  it('numbers the findings and quotes their lines in code spans', () => {
    expect(md.split('\n').filter((l) => l.startsWith('### ') && /^### \d/.test(l))).toEqual([
      "### 1. PostgreSQL warnings in back's migrate step",
      '### 2. node differs between the hosts of qa',
      "### 3. mq's stdout and stderr go to the same file",
      "### 4. npm warnings in front's install step",
    ]);
    expect(md).toContain('**suggested: major** · qa, back');
    expect(md).toContain('**confirmed: minor (note #2)** · prod, mq');
    expect(md).toContain('  `WARNING:  relation "orders_id_seq" already exists, skipping`');
    expect(code).toContain(
      'npm WARN deprecated <script>alert(1)</script>@1.0.0: use ``` fences instead',
    );
    expect(code).toContain(
      'ferry note add --label 0.4.0 --finding warnings/back/migrate/postgres --impact major',
    );
  });

  it('keeps hostile text as text: no markup, no escape sequence, no way out of the code', () => {
    // eslint-disable-next-line no-control-regex
    expect(md).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    // Outside code, every `<` and backtick is escaped: nothing becomes HTML or code.
    expect(prose).not.toMatch(/(?<!\\)[<`]/);
    expect(prose).toContain('Output said \\<script\\>alert(1)\\</script\\>');
    // The failed step's last lines are one block, ``` and all.
    expect(code).toContain(
      [
        'Error: listen EADDRINUSE: address already in use 0.0.0.0:5673',
        '    at Server.setupListenHandle [as _listen2] (node:net:1817:16)',
        'payload was <script>alert(1)</script>',
        '```',
        'mq: giving up after 3 tries',
      ].join('\n'),
    );
    expect(prose).toMatch(/Full log: CODE\n/);
  });

  it('lists notes by section, numbered, with their actions as a task list', () => {
    const notes = md.slice(md.indexOf('\n## Notes\n'), md.indexOf('\n## Environments\n'));
    expect(notes).toMatch(
      /### Deployment issues\n\n1\. \*\*blocker\*\*: mq@7 did not start[^]*\n2\. \*\*minor\*\*/,
    );
    expect(notes).toContain(
      '   - [ ] open: **dana**: Stop the old daemon on prod-mq-2 and promote mq@7 again',
    );
    expect(notes).toContain(
      "   - [x] done: **erik**: Make mq's health check fail when the port is taken",
    );
    expect(notes).toContain('### Testing issues\n\nNo testing issues.\n');
    expect(notes).toContain('   \\# not a heading\\\n   \\- not a list\n');
  });

  it('says so when a part is empty', () => {
    const empty = renderMarkdown(emptyReport());
    expect(empty.startsWith('# Release report: cart@12\n')).toBe(true);
    for (const words of ['No findings.', 'No patches.', 'Nothing blocked.', 'No environments.'])
      expect(empty).toContain(`\n${words}\n`);
  });
});

describe('markdown quoting', () => {
  it('makes code spans and blocks longer than any backtick run inside', () => {
    expect(markdownCode('plain')).toBe('`plain`');
    expect(markdownCode('a `b` c')).toBe('``a `b` c``');
    expect(markdownCode('`edge')).toBe('`` `edge ``');
    expect(markdownCode('a ```` b')).toBe('`````a ```` b`````');
    expect(markdownCodeBlock(['x', '`````', 'y'])).toEqual([
      '``````text',
      'x',
      '`````',
      'y',
      '``````',
    ]);
  });

  it('keeps lines of a note from starting blocks', () => {
    expect(markdownLines('# h\n- l\n+ p\n1. n\n2) m\n    code\n\nnext')).toEqual([
      '\\# h\\',
      '\\- l\\',
      '\\+ p\\',
      '1\\. n\\',
      '2\\) m\\',
      'code',
      '',
      'next',
    ]);
  });

  it('keeps bare URLs, www. names and e-mail addresses from becoming links', () => {
    // Host-controlled text (an os or runtime string) outside code: GFM would link each of these.
    const text =
      'Ubuntu 24.04 see https://evil.example/x, ftp://f.example, WWW.evil.example or root@evil.example';
    expect(markdownText(text)).toBe(
      'Ubuntu 24.04 see https\\://evil.example/x, ftp\\://f.example, WWW\\.evil.example or root\\@evil.example',
    );
    // After `_` or `~` (escaped, but GFM reads the character before `www`).
    expect(markdownText('_www.evil.example ~www.evil.example')).toBe(
      '\\_www\\.evil.example \\~www\\.evil.example',
    );
    // A bundle's name is no address: it stays as it is.
    expect(markdownText('cart@12 and mq@7.')).toBe('cart@12 and mq@7.');
    expect(markdownLines('mail a@b.example\nwww.x.example')).toEqual([
      'mail a\\@b.example\\',
      'www\\.x.example',
    ]);
  });
});
