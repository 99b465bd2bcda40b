import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './helpers/cluster.js';
import { appTree } from './helpers/source-tree.js';

/**
 * Who may fetch which bundle, and who an automatic deployment is recorded as
 * started by. One real server and one real agent in qa (where a push deploys).
 */

let cluster: Cluster;
/** The qa host's own token, as its agent keeps it. */
let hostToken: string;
/** An agent token made for enrolment and never used. */
let enrolToken: string;

/** GETs a bundle's bytes with a token; answers the status and the error code, if any. */
async function download(
  app: string,
  version: number,
  token: string,
): Promise<{ status: number; code: string | undefined; bytes: number }> {
  const response = await fetch(
    `${cluster.server.url}/api/v1/apps/${app}/bundles/${version}/download`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  const body = Buffer.from(await response.arrayBuffer());
  const code =
    response.status >= 400 ? (JSON.parse(body.toString()) as { code: string }).code : undefined;
  return { status: response.status, code, bytes: body.length };
}

beforeAll(async () => {
  cluster = await Cluster.start();
  const host = await cluster.addHost('qa-1', 'qa', { roles: ['web'] });
  hostToken = (
    JSON.parse(await readFile(path.join(host.root, 'agent', 'identity.json'), 'utf8')) as {
      token: string;
    }
  ).token;
  enrolToken = await cluster.token('agent', 'qa');
  // web reaches qa-1 (its role); api reaches no host at all.
  await cluster.push(appTree('web', 'web one'), 'web-1');
  await cluster.push(appTree('api', 'api one'), 'api-1');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('agent tokens and bundle downloads', () => {
  it('an enrolment token downloads nothing, not even a bundle a host was sent', async () => {
    expect(await download('web', 1, enrolToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
    expect(await download('api', 1, enrolToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
  });

  it("a host downloads the bundle it was sent a job for, and no other app's", async () => {
    const sent = await download('web', 1, hostToken);
    expect(sent.status).toBe(200);
    const bundle = await cluster.api().bundle('web', 1);
    expect(sent.bytes).toBe(bundle.size);
    expect(await download('api', 1, hostToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
    // Not even whether a bundle exists: a version never pushed is refused the same way.
    expect(await download('web', 99, hostToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
  });

  it("a person's token still downloads any bundle", async () => {
    expect((await download('api', 1, cluster.server.adminToken)).status).toBe(200);
  });
});
