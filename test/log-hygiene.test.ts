import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentLogs } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';

/**
 * What a report needs to flag a service's logs, on a real server and agent:
 * a Python service's stdout reaches its log while it runs (the agent sets
 * PYTHONUNBUFFERED=1; Python would otherwise keep it in a buffer until it
 * exits) and into the install's `service-output` step, and the host's facts
 * say which service sends its stderr into its stdout file and how big each
 * service's stdout log is.
 */

const CONFIG = `
environments:
  - name: qa
    autoDeploy: false
`;

/** A Python web app that says, once, that it listens, then serves /health. */
const PYWEB = {
  'ferry.yml': [
    'apps:',
    '  pyweb:',
    '    role: web',
    '    service:',
    '      command: python3 app.py',
    "      env: { APP_PORT: '${PORT}' }",
    '      stopTimeout: 5s',
    "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 10s, interval: 200ms }",
    '',
  ].join('\n'),
  'app.py': [
    'import http.server, os',
    'class Health(http.server.BaseHTTPRequestHandler):',
    '    def do_GET(self):',
    '        self.send_response(200)',
    '        self.end_headers()',
    "        self.wfile.write(b'ok')",
    "port = int(os.environ['APP_PORT'])",
    "server = http.server.HTTPServer(('127.0.0.1', port), Health)",
    "print('pyweb listening on', port)",
    'server.serve_forever()',
    '',
  ].join('\n'),
};

/** An app whose command sends its stderr into its stdout. */
const MERGED = {
  'ferry.yml': [
    'apps:',
    '  merged:',
    '    role: web',
    '    service:',
    '      command: sleep 600 2>&1',
    '      stopTimeout: 2s',
    '',
  ].join('\n'),
};

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function deploy(
  app: string,
  files: Record<string, string>,
): Promise<{ version: number; id: string }> {
  const version = await cluster.push(files, app);
  const deployed = await cluster.ferry(['deploy', `${app}@${version}`, '--env', 'qa']);
  expect(deployed.code, `${deployed.stdout}\n${deployed.stderr}`).toBe(0);
  return { version, id: /\((dep_[0-9a-f]+)\)/.exec(deployed.stdout)![1]! };
}

describe('log hygiene', () => {
  it("writes a Python service's output to its log as it runs, and reports which service merges stderr into stdout", async () => {
    const { version, id } = await deploy('pyweb', PYWEB);
    const stdoutLog = path.join(
      cluster.host('qa-1').root,
      'apps',
      'pyweb',
      'logs',
      String(version),
      'service.stdout.log',
    );
    // The service is running (its health check passed): what it printed is in its log now.
    const printed = await waitFor(
      'the service’s line in its stdout log',
      async () => {
        const text = await readFile(stdoutLog, 'utf8').catch(() => '');
        return text.includes('pyweb listening on') ? text : undefined;
      },
      5_000,
    );
    expect(printed).toMatch(/^pyweb listening on \d+$/m);
    // The install kept what the service had printed once its health check passed.
    const logs = await cluster.json<DeploymentLogs>(['logs', id]);
    const serviceOutput = logs.installs[0]!.steps.find((s) => s.step === 'service-output');
    expect(serviceOutput).toMatchObject({ state: 'succeeded' });
    expect(serviceOutput!.stdout).toMatch(/^pyweb listening on \d+$/m);

    await deploy('merged', MERGED);
    const api = cluster.api();
    const apps = await waitFor('facts of both services', async () => {
      const facts = (await api.hostFacts('qa-1')).facts;
      const services = facts?.apps;
      return services?.pyweb?.service?.running && services.merged?.service?.running
        ? services
        : undefined;
    });
    expect(apps.pyweb?.service?.mergedOutput).toBe(false);
    expect(apps.merged?.service?.mergedOutput).toBe(true);
    // The size of each stdout log: the Python service's line; nothing from `sleep`.
    expect(apps.pyweb?.service?.stdoutBytes).toBeGreaterThanOrEqual(Buffer.byteLength(printed));
    expect(apps.merged?.service?.stdoutBytes).toBe(0);
  }, 120_000);
});
