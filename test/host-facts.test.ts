import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './helpers/cluster.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Host facts on a real server and a real agent: the runtimes on the agent's
 * PATH change between two reports (a package manager put a new `node` in
 * place), and the host's facts history shows both, with their times, through
 * the API and `ferry hosts show --history`.
 */

let cluster: Cluster;
let bin: string;

/** A `node` on the agent's PATH that says it is `version`, renamed into place as a package manager does. */
async function installNode(version: string): Promise<void> {
  const partial = path.join(bin, '.node.partial');
  await writeFile(partial, `#!/bin/sh\necho v${version}\n`);
  await chmod(partial, 0o755);
  await rename(partial, path.join(bin, 'node'));
}

beforeAll(async () => {
  bin = await mkdtemp(path.join(os.tmpdir(), 'ferry-facts-bin-'));
  await installNode('20.11.1');
  cluster = await Cluster.start({ agentArgs: () => ['--path', bin] });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await rm(bin, { recursive: true, force: true });
});

describe('host facts history', () => {
  it("shows both node versions in a host's history, with their times, when node changes between two reports", async () => {
    const startedAt = new Date().toISOString();
    await cluster.addHost('qa-1', 'qa');
    const api = cluster.api();
    const first = await waitFor('the first facts report', async () => {
      const answer = await api.hostFacts('qa-1', 10);
      return answer.history.length === 1 ? answer : undefined;
    });
    expect(first.facts?.runtimes).toEqual({ node: '20.11.1', npm: null, python3: null, pip: null });
    expect(first.facts?.roles).toEqual(['web']);

    // The runtime changes; the agent's next report (here: on its start) says so.
    await cluster.stopAgent('qa-1', 'SIGTERM');
    await installNode('22.3.0');
    await cluster.startAgentAgain('qa-1');
    const second = await waitFor('the report with the new node', async () => {
      const answer = await api.hostFacts('qa-1', 10);
      return answer.facts?.runtimes.node === '22.3.0' ? answer : undefined;
    });

    const [newer, older] = second.history;
    expect(second.history).toHaveLength(2);
    expect([newer?.facts.runtimes.node, older?.facts.runtimes.node]).toEqual(['22.3.0', '20.11.1']);
    expect(older!.at >= startedAt).toBe(true);
    expect(newer!.at > older!.at).toBe(true);
    expect(newer?.changes).toContainEqual({
      field: 'runtimes.node',
      from: '20.11.1',
      to: '22.3.0',
    });

    const shown = await cluster.ferry(['hosts', 'show', 'qa-1', '--history']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^runtimes: +node 22\.3\.0, npm -, python3 -, pip -$/m);
    const time = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
    const timeline = shown.stdout.slice(shown.stdout.indexOf('History (newest first):'));
    expect(timeline).toContain(`${time(newer!.at)}  `);
    // The change of the host, not the load and free space that moved along with it.
    expect(timeline).toMatch(
      new RegExp(`^  ${time(newer!.at)}  runtimes\\.node 20\\.11\\.1 → 22\\.3\\.0$`, 'm'),
    );
    expect(timeline).toMatch(
      new RegExp(`^  ${time(older!.at)}  first sample kept: node 20\\.11\\.1, `, 'm'),
    );
  }, 90_000);

  it('answers E_HOST_NOT_FOUND for a host that is not enrolled', async () => {
    const shown = await cluster.ferry(['hosts', 'show', 'nobody', '--history']);
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('[E_HOST_NOT_FOUND]');
  });

  it('refuses a history count that is not a count, and an agent token', async () => {
    const get = async (query: string, token = cluster.server.adminToken) => {
      const response = await harnessFetch(`${cluster.server.url}/api/v1/hosts/qa-1/facts${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, code: ((await response.json()) as { code?: string }).code };
    };
    expect(await get('?history=-1')).toEqual({ status: 400, code: 'E_BAD_REQUEST' });
    expect(await get('?history=lots')).toEqual({ status: 400, code: 'E_BAD_REQUEST' });
    expect(await get('?since=yesterday')).toEqual({ status: 400, code: 'E_BAD_REQUEST' });
    expect(await get('', await cluster.token('agent', 'qa'))).toEqual({
      status: 403,
      code: 'E_FORBIDDEN',
    });
  });
});
