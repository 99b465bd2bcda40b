import { describe, expect, it } from 'vitest';
import { renderTerminal } from './render-terminal.js';
import { emptyReport, reportFixture } from '../../test/helpers/report-fixture.js';

describe('renderTerminal', () => {
  const text = renderTerminal(reportFixture());
  const lines = text.split('\n');

  it('has the title and the sections in order', () => {
    expect(lines[0]).toBe('Release report: label 0.4.0');
    expect(lines[1]).toBe('generated 2025-03-04 14:05 UTC');
    const at = (heading: string) => lines.indexOf(heading);
    expect(at('SUMMARY')).toBeGreaterThan(1);
    expect(at('FINDINGS')).toBeGreaterThan(at('SUMMARY'));
    expect(at('NOTES')).toBeGreaterThan(at('FINDINGS'));
    expect(at('ENVIRONMENTS')).toBeGreaterThan(at('NOTES'));
    expect(text).toContain('  4 findings, 2 open notes, 2 open actions');
    expect(text).toContain(
      '    - mq@7 failed in prod on prod-mq-2 (step start, exit 1) and was rolled back to mq@6',
    );
    expect(text).toContain(
      '    prod mq@7: 1 of 2 hosts installed, 1 failed, 2 rolled back, 0 away, 0 running now',
    );
  });

  it('numbers the findings, with impact, hosts, quoted lines and the key to confirm them', () => {
    const numbered = lines.filter((l) => /^ {2}\d+\. /.test(l));
    expect(numbered).toEqual([
      "  1. [suggested: major] PostgreSQL warnings in back's migrate step (qa, back)",
      '  2. [suggested: minor] node differs between the hosts of qa (qa)',
      "  3. [confirmed: minor (note #2)] mq's stdout and stderr go to the same file (prod, mq)",
      "  4. [suggested: nil] npm warnings in front's install step (prod, front)",
    ]);
    expect(text).toContain(
      '     qa-app-1: 3 lines match "WARNING:" in step migrate (seen 3 times)\n',
    );
    expect(text).toContain(
      '       | WARNING:  relation "orders_id_seq" already exists, skipping\n',
    );
    expect(text).toContain(
      '     key warnings/back/migrate/postgres; confirm it as a note with:\n' +
        '     ferry note add --label 0.4.0 --finding warnings/back/migrate/postgres --impact major\n',
    );
  });

  it('lists notes by section, numbered, with their actions; an empty section says so', () => {
    const notes = text.slice(text.indexOf('\nNOTES\n'), text.indexOf('\nENVIRONMENTS\n'));
    expect(notes).toMatch(
      /Deployment issues\n {4}1\. \[blocker\] mq@7 did not start[^]*\n {4}2\. \[minor\] The MQ daemon's/,
    );
    expect(notes).toContain('[open] dana: Stop the old daemon on prod-mq-2 and promote mq@7 again');
    expect(notes).toContain("[done] erik: Make mq's health check fail when the port is taken");
    expect(notes).toContain('fixed by back@13');
    expect(notes).toContain('  Testing issues\n    No testing issues.\n');
    expect(notes.indexOf('Patches')).toBeLessThan(notes.indexOf('Miscellaneous'));
  });

  it('shows every install host by host, and a failure with its last lines and the logs command', () => {
    expect(text).toMatch(/ {4}prod-mq-2\n {6}deploy mq@7 \(from 6\): failed, rolled back, 53 s/);
    expect(text).toContain('        start        1.8 s  failed (exit 1)\n');
    expect(text).toContain(
      '        failed at step start, exit code 1: the service exited during start (exit 1)\n' +
        '          | Error: listen EADDRINUSE: address already in use 0.0.0.0:5673\n',
    );
    expect(text).toContain('          | payload was <script>alert(1)</script>\n          | ```\n');
    expect(text).toMatch(/ {8}full log: ferry logs ins_[0-9a-f]{16}\n/);
    expect(text).toContain('      revert mq@6 (from 7): succeeded');
  });

  it('writes no escape sequence without colour, and fits 100 columns', () => {
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(lines.filter((l) => l.length > 100)).toEqual([]);
  });

  it('with colour, writes only its own colours: none from the report', () => {
    const colored = renderTerminal(reportFixture(), { color: true });
    // eslint-disable-next-line no-control-regex
    const sequences = new Set(colored.match(/\x1b[^m]*m/g));
    expect([...sequences].sort()).toEqual(
      ['\x1b[0m', '\x1b[1m', '\x1b[2m', '\x1b[31m', '\x1b[32m', '\x1b[33m', '\x1b[36m'].sort(),
    );
    // eslint-disable-next-line no-control-regex
    expect(colored.replace(/\x1b\[\d+m/g, '')).toBe(text);
  });

  it('says so when a part is empty', () => {
    const empty = renderTerminal(emptyReport());
    expect(empty.split('\n')[0]).toBe('Release report: cart@12');
    for (const words of [
      'No bundles.',
      'No paths.',
      'No deployments yet.',
      'Nothing blocked.',
      'No findings.',
      'No deployment issues.',
      'No patches.',
      'No testing issues.',
      'Nothing else noted.',
      'No environments.',
    ])
      expect(empty).toContain(words);
  });
});
