import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBundle } from '../bundle/pack.js';
import type { ApiClient } from '../cli/api-client.js';
import { followDeployment } from '../cli/follow-deployment.js';
import { statusLines } from '../cli/commands/status.js';
import type { DeploymentRecord } from '../protocol/deployment-api.js';
import { FerryError } from '../protocol/errors.js';
import { LocalCluster } from '../dev/local-cluster.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));

/** The demo's hosts: one in dev, two in qa, three in prod. */
const DEMO_HOSTS = [
  { name: 'dev-1', env: 'dev' },
  { name: 'qa-1', env: 'qa' },
  { name: 'qa-2', env: 'qa' },
  { name: 'prod-1', env: 'prod' },
  { name: 'prod-2', env: 'prod' },
  { name: 'prod-3', env: 'prod' },
] as const;

/** The server's settings for the demo: the default lifecycle, quick to notice a host gone. */
const DEMO_CONFIG = `# Written by ferry demo.
environments:
  - { name: dev }
  - { name: qa, autoDeploy: true, strategy: { batch: 1, maxFailures: 0, offlineTimeout: 20s } }
  - { name: prod, requires: passed, strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 20s } }
`;

/**
 * `ferry demo`: starts a server and six agents (1 dev, 2 qa, 3 prod) under a
 * temporary folder and walks through the story with the example app: a push
 * deployed to QA by itself, QA's verdict, a rolling promotion to prod, a broken
 * version that QA never gets past, a fix, and a rollback in seconds. It checks
 * each outcome as it goes, so `--exit` exits 0 only when the story went as told.
 */
export async function runDemo(options: { exit?: boolean; dir?: string }): Promise<void> {
  const root = options.dir
    ? path.resolve(options.dir)
    : await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-'));
  await mkdir(root, { recursive: true });
  // `ferry demo | head` closes the pipe early: the story goes on quietly, so that
  // its processes are still stopped at the end (main's handler would exit at once).
  let muted = false;
  process.stdout.removeAllListeners('error');
  process.stdout.on('error', () => (muted = true));
  const say = (line = '') => {
    if (!muted) process.stdout.write(`${line}\n`);
  };
  const step = (title: string) => say(`\n==> ${title}`);
  const indent = (line: string) => say(`    ${line}`);

  step(`Starting a Ferry server and six agents (1 dev, 2 qa, 3 prod) under ${root}`);
  const cluster = await LocalCluster.start({ root, server: { config: DEMO_CONFIG } });
  try {
    await Promise.all(DEMO_HOSTS.map((host) => cluster.addHost({ ...host, roles: ['hello'] })));
  } catch (err) {
    await cluster.stop();
    if (!options.dir) await rm(root, { recursive: true, force: true });
    throw err;
  }
  const health = (name: string) => serviceHealth(cluster.host(name).port);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= cluster.stop());
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  /** The story itself; Ctrl-C may cut it short. */
  const tell = async (): Promise<void> => {
    const { api } = cluster;
    indent(`server ${cluster.url}, admin token in ${root}/server/admin-token`);
    indent(`dashboard ${cluster.url}/ — sign in by pasting the admin token`);
    indent(
      `HTTPS with the server's own CA ${cluster.server.caFingerprint ?? ''}: a browser trusts it once you import ${cluster.server.caFile}`,
    );
    for (const host of cluster.hosts.values()) {
      indent(
        `${host.name.padEnd(7)} ${host.env.padEnd(5)} root ${host.root}, serves on 127.0.0.1:${host.port}`,
      );
    }

    const source = path.join(root, 'src');
    await cp(EXAMPLE, source, { recursive: true, filter: (p) => !p.includes('node_modules') });
    const serverJs = path.join(source, 'server.js');
    const manifest = path.join(source, 'ferry.yml');
    const goodCode = await readFile(serverJs, 'utf8');
    const goodManifest = await readFile(manifest, 'utf8');

    step(
      '1. A developer pushes the example app: the server numbers it, and qa deploys every new bundle by itself',
    );
    const v1 = await push(api, source, root, '1.0.0', indent);
    await follow(api, v1.deployments, 'succeeded', indent);
    indent(`qa-1 answers ${JSON.stringify(await health('qa-1'))}`);

    step(
      `2. QA tries hello@${v1.version} on qa and marks it passed (a clean install is not a passed test)`,
    );
    const marked = await api.markVerdict('hello', v1.version, {
      verdict: 'passed',
      note: 'greeting and health page OK',
    });
    indent(
      `ferry mark hello@${v1.version} passed → ${marked.verdict} (was ${marked.previous}), by ${marked.by}`,
    );

    step(
      '3. Promotion to prod, host by host: each must pass its health check before the next one starts',
    );
    indent(`ferry promote hello@${v1.version}`);
    await expectState(
      api,
      await api.promote({ app: 'hello', version: v1.version }),
      'succeeded',
      indent,
    );

    step(
      '4. The developer pushes hello@2 with a bug (its health page says ok: false); QA never gets past it',
    );
    await writeFile(serverJs, goodCode.replace('ok: true', 'ok: false'));
    // A short health budget, so that the story does not wait long for a check that cannot pass.
    await writeFile(manifest, goodManifest.replace(/timeout: \d+s/, 'timeout: 4s'));
    const v2 = await push(api, source, root, '1.1.0', indent);
    await follow(api, v2.deployments, 'rolled_back', indent);
    const [why] = await api.verdicts('hello', v2.version);
    indent(`ferry verdicts hello@${v2.version} → ${why?.verdict} by ${why?.by}: ${why?.note}`);
    try {
      await api.deploy({ app: 'hello', version: v2.version, env: 'prod' });
      throw new FerryError('E_INTERNAL', `prod took hello@${v2.version}, which QA never passed`);
    } catch (err) {
      if (!(err instanceof FerryError) || err.code !== 'E_VERDICT_REQUIRED') throw err;
      indent(`ferry deploy hello@${v2.version} --env prod → refused: ${err.message} [${err.code}]`);
    }
    indent(`qa-1 still answers ${JSON.stringify(await health('qa-1'))}`);

    step('5. The fix, hello@3: qa gets it, QA passes it, prod gets it');
    await writeFile(serverJs, goodCode.replace('hello from', 'hello again from'));
    await writeFile(manifest, goodManifest);
    const v3 = await push(api, source, root, '1.2.0', indent);
    await follow(api, v3.deployments, 'succeeded', indent);
    await api.markVerdict('hello', v3.version, { verdict: 'passed', note: 'fix confirmed' });
    indent(`ferry mark hello@${v3.version} passed; ferry promote hello@${v3.version}`);
    await expectState(
      api,
      await api.promote({ app: 'hello', version: v3.version }),
      'succeeded',
      indent,
    );

    step(
      `6. Something is wrong in prod after all: roll it back. hello@${v1.version} is still on each host, so it is a switch and a restart — no fetch, no install`,
    );
    indent('ferry rollback hello --env prod');
    try {
      await api.rollback({ app: 'hello', env: 'prod' });
      throw new FerryError(
        'E_INTERNAL',
        `prod went back across hello@${v3.version}'s migration unasked`,
      );
    } catch (err) {
      if (!(err instanceof FerryError) || err.code !== 'E_ROLLBACK_OVER_MIGRATIONS') throw err;
      indent(`→ refused: ${err.message} [${err.code}]`);
    }
    indent(
      'ferry rollback hello --env prod --yes   # a rollback never re-runs nor undoes a migration',
    );
    const started = Date.now();
    const rollback = await expectState(
      api,
      await api.rollback({ app: 'hello', env: 'prod', confirmMigrations: true }),
      'succeeded',
      indent,
    );
    const logs = await api.deploymentLogs(rollback.id, 'prod-1');
    indent(
      `back in ${((Date.now() - started) / 1000).toFixed(1)} s for 3 hosts; prod-1's steps: ${logs.installs[0]?.steps.map((s) => s.step).join(' → ')}`,
    );
    indent(`prod-1 answers ${JSON.stringify(await health('prod-1'))}`);

    step('What the server knows now: ferry status');
    for (const line of statusLines(await api.status('hello'))) indent(line);
    step('And what happened, newest first: ferry history hello');
    for (const entry of (await api.history('hello')).slice(0, 12)) {
      indent(
        `${entry.at.slice(11, 19)}  ${entry.type.padEnd(10)} hello@${entry.version}  ${(entry.env ?? '').padEnd(4)}  ${entry.detail}  by ${entry.by}`,
      );
    }

    step('Where to look');
    // With --exit the server and agents stop at the end, and a temporary
    // folder goes with them: only point at what will still be there.
    if (options.exit) {
      indent('--exit: the server and the agents stop now, so the commands below need `ferry demo`');
      indent('without --exit (it keeps running until Ctrl-C)');
    }
    indent(
      `${cluster.url}/      # the dashboard, in a browser: sign in with the admin token (cat ${root}/server/admin-token)`,
    );
    indent(
      `  (the browser warns: it does not know the demo server's own CA, ${cluster.server.caFile}; accept it, or import that file)`,
    );
    indent(
      `export FERRY_SERVER=${cluster.url} FERRY_TOKEN=$(cat ${root}/server/admin-token) FERRY_CA_FILE=${cluster.server.caFile}`,
    );
    indent('npx ferry status; npx ferry history hello; npx ferry deployments');
    indent(`npx ferry logs ${rollback.id} --host prod-2      # every step's output`);
    if (options.exit && !options.dir) {
      indent(`${root} is removed when the demo ends; \`ferry demo --exit --dir DIR\` keeps`);
      indent("the hosts' folders and logs in DIR to look at afterwards");
    } else {
      const prod1 = cluster.host('prod-1').root;
      indent(`${prod1}/apps/hello/current → the release it runs; releases/ holds the others`);
      indent(`${prod1}/apps/hello/logs/<version>/service.stdout.log and service.stderr.log`);
      indent(
        `${prod1}/apps/hello/shared/data/migrations.log: hello's migration, once per deployment, on the first host`,
      );
      indent(`${prod1}/agent.log (the agent), ${root}/server.log (the server)`);
      if (!options.dir) indent(`(${root} is removed at Ctrl-C; \`--dir DIR\` keeps it)`);
    }
  };
  try {
    const story = tell();
    const outcome = await Promise.race([
      story.then(() => 'told' as const),
      interrupted.then(() => 'interrupted' as const),
    ]);
    if (outcome === 'interrupted') {
      // What the story was doing fails once its processes are gone; that is expected.
      story.catch(() => undefined);
      say('\nInterrupted: stopping the demo.');
      process.exitCode = 130;
      return;
    }
    if (options.exit) return;
    say('\nThe server and agents keep running; press Ctrl-C to stop them.');
    await Promise.race([interrupted, cluster.server.exited]);
  } finally {
    await stop();
    if (!options.dir) await rm(root, { recursive: true, force: true });
    say('Demo stopped: its server, agents and services are gone.');
  }
}

/** Bundles the source tree and pushes it, saying what the server answered. */
async function push(
  api: ApiClient,
  source: string,
  root: string,
  label: string,
  say: (line: string) => void,
): Promise<{ version: number; deployments: string[] }> {
  const out = path.join(root, `hello-${label}.tar.gz`);
  const created = await createBundle({ sourceDir: source, out, label });
  const result = await api.push(created.file);
  const { version, sha256 } = result.bundle;
  say(
    `ferry push → hello@${version} (label ${label}, ${created.meta.files.length} files, sha256 ${sha256.slice(0, 12)}…)`,
  );
  const ids = result.deployments.flatMap((d) => (d.id ? [d.id] : []));
  return { version, deployments: ids };
}

/** Follows the deployments a push started, each to the state the story expects. */
async function follow(
  api: ApiClient,
  ids: string[],
  expected: DeploymentRecord['state'],
  say: (line: string) => void,
): Promise<void> {
  if (ids.length === 0) throw new FerryError('E_INTERNAL', 'the push started no deployment to qa');
  for (const id of ids) await expectState(api, await api.deployment(id), expected, say);
}

/** Follows one deployment, narrating it, and checks it ends as the story says. */
async function expectState(
  api: ApiClient,
  deployment: DeploymentRecord,
  expected: DeploymentRecord['state'],
  say: (line: string) => void,
): Promise<DeploymentRecord> {
  await followDeployment(api, deployment, { say });
  const ended = await api.deployment(deployment.id);
  if (ended.state !== expected) {
    throw new FerryError(
      'E_INTERNAL',
      `The demo expected ${deployment.id} to end ${expected}, not ${ended.state}: ${ended.error ?? ''}`,
    );
  }
  return ended;
}

/** What a host's service answers on `/health`, or null when nothing answers. */
async function serviceHealth(port: number): Promise<{ ok: boolean; version: string } | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) return null;
    return (await response.json()) as { ok: boolean; version: string };
  } catch {
    return null;
  }
}
