import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, reservePort } from './helpers/cluster.js';
import { envAppTree } from './helpers/env-app.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Variables per app: two apps on one host, each on its own port, with one
 * variable name (`PORT`) set for each app; and an ambiguous pair refused
 * before any host is touched, naming both scopes.
 */

const CONFIG = `
environments:
  - { name: qa }
`;

/** An app of role web that serves `{app, version}` on ${PORT}, and uses ${EXTRA} when asked. */
const appTree = (app: string, extra = false) =>
  envAppTree(app, extra ? { env: { APP_EXTRA: '${EXTRA}' } } : {});

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function ferryOk(args: string[]): Promise<string> {
  const result = await cluster.ferry(args);
  expect(result.code, `ferry ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('variables per app', () => {
  it('runs two apps on one host, each on the port set for it', async () => {
    const ports = { cart: await reservePort(), catalogue: await reservePort() };
    for (const [app, port] of Object.entries(ports)) {
      const said = await cluster.setVar('PORT', String(port), { app, host: 'qa-1' });
      expect(said).toContain(`for host qa-1 for app ${app}`);
    }
    const listed = await ferryOk(['vars', 'list', '--app', 'cart']);
    expect(listed).toContain('host qa-1, app cart');
    expect(listed).not.toContain('app catalogue');

    for (const app of ['cart', 'catalogue'] as const) {
      const version = await cluster.push(appTree(app), app);
      await ferryOk(['deploy', `${app}@${version}`, '--env', 'qa']);
    }
    for (const [app, port] of Object.entries(ports)) {
      const answer = (await (await harnessFetch(`http://127.0.0.1:${port}/health`)).json()) as {
        app: string;
      };
      expect(answer.app).toBe(app);
    }
  }, 120_000);

  it('refuses an ambiguous pair before any host is touched, naming both', async () => {
    await cluster.setVar('EXTRA', 'for-cart', { app: 'cart' });
    await cluster.setVar('EXTRA', 'for-qa', { env: 'qa' });
    const version = await cluster.push(appTree('cart', true), 'cart-extra');
    const refused = await cluster.ferry(['deploy', `cart@${version}`, '--env', 'qa', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_VARIABLE_AMBIGUOUS]');
    expect(refused.stderr).toContain('global for app cart');
    expect(refused.stderr).toContain('env qa');
    // Settled by a value for the app in the narrower scope.
    await cluster.setVar('EXTRA', 'cart-in-qa', { app: 'cart', env: 'qa' });
    await ferryOk(['deploy', `cart@${version}`, '--env', 'qa']);
  }, 120_000);
});
