import { describe, expect, it } from 'vitest';
import { bundle, host, install, reportFacts } from './findings-fixture.js';
import { logHygieneFindings } from './log-hygiene.js';
import { reportScope } from './report-scope.js';

const service = (extra: object) => ({
  cart: { current: 12, service: { running: true, pid: 10, uptimeSeconds: 120, ...extra } },
});

describe('logHygieneFindings', () => {
  it('flags a service whose stdout and stderr go to the same place', () => {
    const facts = reportFacts({
      hosts: [
        host('mq-1', 'qa', { apps: service({ mergedOutput: true }) }),
        host('mq-2', 'qa', { apps: service({ mergedOutput: false }) }),
        host('mq-3', 'qa', { apps: service({ mergedOutput: null }) }),
        // Runs another release of cart now: not this report's.
        host('mq-4', 'qa', {
          apps: { cart: { current: 15, service: { running: true, mergedOutput: true } } },
        }),
      ],
      installs: [install('mq-1', 'qa', [{ step: 'start' }])],
    });
    const findings = logHygieneFindings(reportScope(facts));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      key: 'log-hygiene/cart/qa/merged-output',
      title: "cart's stdout and stderr go to the same log now on 1 host in qa",
      kind: 'log-hygiene',
      suggestedImpact: 'minor',
      entries: [
        { host: 'mq-1', text: "cart's service writes stdout and stderr to the same place" },
      ],
    });
  });

  it('flags a running Python service whose stdout log stayed empty', () => {
    const python = (command: string, env: object = {}) =>
      reportFacts({
        bundles: [bundle('cart', 12, { service: { command, env } })],
        hosts: [
          host('web-1', 'qa', { apps: service({ stdoutBytes: 0 }) }),
          host('web-2', 'qa', { apps: service({ stdoutBytes: 2048 }) }),
          host('web-3', 'qa', { apps: service({ stdoutBytes: null }) }),
          host('web-4', 'qa', { apps: service({ running: false, stdoutBytes: 0 }) }),
          // Started 5 s ago: it may not have printed yet.
          host('web-5', 'qa', { apps: service({ uptimeSeconds: 5, stdoutBytes: 0 }) }),
          // Uptime unknown: it may have just started too.
          host('web-6', 'qa', { apps: service({ uptimeSeconds: null, stdoutBytes: 0 }) }),
        ],
        installs: [install('web-1', 'qa', [{ step: 'start' }])],
      });
    const found = logHygieneFindings(reportScope(python('gunicorn app:wsgi -b :8000')));
    expect(found.map((f) => f.key)).toEqual(['log-hygiene/cart/qa/buffered-output']);
    expect(found[0]!.entries).toEqual([
      {
        host: 'web-1',
        text: "cart's stdout log is empty after 120 s running",
        quote: null,
        count: null,
      },
    ]);
    expect(found[0]!.data.hint).toContain('PYTHONUNBUFFERED=1');
    for (const command of [
      'python3 -m app',
      '/usr/bin/python worker.py',
      'exec celery -A app worker',
      'uwsgi --ini x.ini',
    ]) {
      expect(logHygieneFindings(reportScope(python(command))), command).toHaveLength(1);
    }
    // Not Python: an empty stdout says nothing, unless the manifest turned buffering back on.
    expect(logHygieneFindings(reportScope(python('node server.js')))).toEqual([]);
    expect(
      logHygieneFindings(reportScope(python('./run.sh', { PYTHONUNBUFFERED: '' }))),
    ).toHaveLength(1);
    // Any other value, 0 too, is unbuffered to Python.
    expect(logHygieneFindings(reportScope(python('./run.sh', { PYTHONUNBUFFERED: '0' })))).toEqual(
      [],
    );
  });
});
