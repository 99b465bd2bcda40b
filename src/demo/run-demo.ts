import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBundle } from '../bundle/pack.js';
import { ApiClient } from '../cli/api-client.js';
import { formatBytes } from '../cli/progress.js';
import { FerryError } from '../protocol/errors.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));

/**
 * `ferry demo`: starts a real server under a temporary folder and walks through
 * what Ferry does so far with the example app, narrating each step. The story
 * grows with each capability (agents, QA verdicts, promotion, rollback).
 */
export async function runDemo(options: { exit?: boolean; dir?: string }): Promise<void> {
  const root = options.dir
    ? path.resolve(options.dir)
    : await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-'));
  await mkdir(root, { recursive: true });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const step = (title: string) => say(`\n==> ${title}`);

  step(`Starting a Ferry server with its data in ${root}/server`);
  const server = await startServerProcess(path.join(root, 'server'));
  const stop = async () => {
    if (server.child.exitCode === null) {
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    const token = (await readFile(path.join(root, 'server', 'admin-token'), 'utf8')).trim();
    const api = new ApiClient(server.url, token);
    say(`    server at ${server.url}; admin token in ${root}/server/admin-token`);

    step('A developer bundles the example app (examples/hello) and pushes it');
    const source = path.join(root, 'src');
    await cp(EXAMPLE, source, { recursive: true });
    const first = await pushTree(api, source, path.join(root, 'hello-1.tar.gz'), '1.0.0');
    say(`    ferry push → ${first}`);

    step('The developer changes the app and pushes again: the server gives it the next version');
    const serverJs = path.join(source, 'server.js');
    await writeFile(
      serverJs,
      (await readFile(serverJs, 'utf8')).replace('hello from', 'hello again from'),
    );
    const second = await pushTree(api, source, path.join(root, 'hello-2.tar.gz'), '1.1.0');
    say(`    ferry push → ${second}`);

    step('A push that is retried (same bytes) returns the version it already has');
    const retried = await api.push(path.join(root, 'hello-2.tar.gz'));
    say(
      `    ferry push hello-2.tar.gz → hello@${retried.bundle.version} (new: ${retried.created})`,
    );

    step('A broken manifest is refused before anything is sent, naming each problem');
    await writeFile(
      path.join(source, 'ferry.yml'),
      'apps:\n  hello:\n    keepReleases: none\n    servce: {}\n',
    );
    try {
      await createBundle({ sourceDir: source, out: path.join(root, 'broken.tar.gz') });
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      say(`    ${err.message.split('\n').join('\n    ')} [${err.code}]`);
    }

    step('What the server now knows');
    for (const app of await api.apps())
      say(
        `    ferry apps → ${app.name}: latest ${app.name}@${app.latestVersion}, ${app.bundleCount} bundles`,
      );
    for (const bundle of await api.bundles('hello')) {
      say(
        `    hello@${bundle.version}  label ${bundle.label ?? '-'}  ${formatBytes(bundle.size)}  sha256 ${bundle.sha256.slice(0, 12)}…  by ${bundle.pushedBy}`,
      );
    }

    step('Any bundle can be downloaded again, checked by its sha256');
    const copy = path.join(root, 'downloaded.tar.gz');
    const downloaded = await api.download('hello', 1, copy);
    say(
      `    ferry bundle download hello@1 → ${copy} (${formatBytes(downloaded.size)}, sha256 verified)`,
    );

    if (options.exit) return;
    step('Try it yourself');
    say(`    export FERRY_SERVER=${server.url} FERRY_TOKEN=$(cat ${root}/server/admin-token)`);
    say('    npx ferry apps; npx ferry bundles hello; npx ferry bundle show hello@2');
    say(
      '    Hosts: `ferry tokens create --role agent --env qa`, then `ferry agent ... --root DIR`, and',
    );
    say('    `ferry install hello@2 --host NAME`. QA verdicts, promotion and rollback come next.');
    say('\nThe server keeps running; press Ctrl-C to stop it.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      server.child.once('exit', () => resolve());
    });
  } finally {
    await stop();
    if (!options.dir) await rm(root, { recursive: true, force: true });
    say('Demo stopped; its processes are gone.');
  }
}

async function pushTree(
  api: ApiClient,
  source: string,
  out: string,
  label: string,
): Promise<string> {
  const created = await createBundle({ sourceDir: source, out, label });
  const result = await api.push(created.file);
  const { app, version, sha256 } = result.bundle;
  return `${app}@${version} (label ${label}, ${created.meta.files.length} files, sha256 ${sha256.slice(0, 12)}…)`;
}

async function startServerProcess(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [MAIN, 'server', '--data', dataDir, '--port', '0', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`the demo server exited with ${code}:\n${output}`)),
    );
  });
  return { child, url };
}
