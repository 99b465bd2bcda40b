import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readProcStat } from '../../src/agent/process/builtin/proc-stat.js';
import { waitFor } from './cluster.js';

export const SUPERVISORD = '/usr/bin/supervisord';
export const SUPERVISORCTL = '/usr/bin/supervisorctl';
export const HAVE_SUPERVISORD = existsSync(SUPERVISORD) && existsSync(SUPERVISORCTL);

/**
 * Whether the suites that need a real supervisord run: where it is installed,
 * and always under CI=true, where a missing one fails them instead of skipping.
 */
export const SUPERVISORD_SUITES_RUN = HAVE_SUPERVISORD || process.env.CI === 'true';
if (!SUPERVISORD_SUITES_RUN) {
  console.warn('supervisord is not installed (apt-get install -y supervisor): its suites SKIPPED');
}

/** A supervisord of a test's own, its files under one folder. */
export interface TestSupervisord {
  root: string;
  /** Its configuration, which `supervisorctl -c` and the driver read. */
  config: string;
  /** The folder its `[include]` reads program sections from. */
  include: string;
  /** Shuts it down and waits for it to exit; a failure is logged, not thrown. */
  stop(): Promise<void>;
}

/**
 * Writes a supervisord configuration under `root` (a private socket there, an
 * `[include]` of `<root>/conf.d/*.conf`) and starts supervisord with a bare
 * environment, as a service manager would; resolves once its socket is there.
 *
 * @example
 *   const supervisor = await startSupervisord(root);
 *   new SupervisordDriver({ configFile: supervisor.config, includeDir: supervisor.include, … });
 *   await supervisor.stop();
 */
export async function startSupervisord(root: string): Promise<TestSupervisord> {
  if (!HAVE_SUPERVISORD) {
    throw new Error(
      'supervisord is not installed; CI installs it with apt-get install -y supervisor',
    );
  }
  const include = path.join(root, 'conf.d');
  await mkdir(include, { recursive: true });
  const config = path.join(root, 'supervisord.conf');
  await writeFile(
    config,
    [
      '[unix_http_server]',
      `file=${root}/supervisor.sock`,
      'chmod=0700',
      '[supervisord]',
      `pidfile=${root}/supervisord.pid`,
      `logfile=${root}/supervisord.log`,
      `childlogdir=${root}`,
      '[rpcinterface:supervisor]',
      'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
      '[supervisorctl]',
      `serverurl=unix://${root}/supervisor.sock`,
      '[include]',
      `files=${include}/*.conf`,
      '',
    ].join('\n'),
  );
  execFileSync(SUPERVISORD, ['-c', config], { env: { PATH: '/usr/bin:/bin' } });
  await waitFor('supervisord', () =>
    Promise.resolve(existsSync(path.join(root, 'supervisor.sock')) || undefined),
  );
  return {
    root,
    config,
    include,
    async stop() {
      const pid = Number(await readFile(path.join(root, 'supervisord.pid'), 'utf8').catch(() => 0));
      try {
        execFileSync(SUPERVISORCTL, ['-c', config, 'shutdown'], { stdio: 'ignore' });
      } catch (error) {
        console.error('supervisorctl shutdown failed', error);
        return;
      }
      if (pid > 0) {
        await waitFor('supervisord to exit', () => {
          const stat = readProcStat(pid);
          return Promise.resolve(
            stat === null || stat.state === 'Z' || stat.state === 'X' || undefined,
          );
        });
      }
    },
  };
}
