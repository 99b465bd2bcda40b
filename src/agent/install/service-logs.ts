import path from 'node:path';

/**
 * Where a release's service writes its stdout and stderr, whatever the
 * process driver: `<app>/logs/<version>/service.stdout.log` and
 * `service.stderr.log`. The start step hands them to the driver; host facts
 * and the `service-output` step read them.
 *
 * @example
 *   serviceLogs('/srv/ferry/apps/cart', 12).stdoutFile; // '/srv/ferry/apps/cart/logs/12/service.stdout.log'
 */
export function serviceLogs(
  appDir: string,
  version: number,
): { dir: string; stdoutFile: string; stderrFile: string } {
  const dir = path.join(appDir, 'logs', String(version));
  return {
    dir,
    stdoutFile: path.join(dir, 'service.stdout.log'),
    stderrFile: path.join(dir, 'service.stderr.log'),
  };
}
