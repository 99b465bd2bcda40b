import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../process-driver.js';
import { environmentFile, serviceUnit } from './service-unit.js';
import { SystemdDriver } from './systemd-driver.js';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const INSTALLED = existsSync(SYSTEMD_ANALYZE);
const IN_CI = process.env.CI === 'true';
if (!INSTALLED && !IN_CI) {
  console.warn(
    'systemd-analyze is not installed (apt-get install -y systemd): unit checks are SKIPPED',
  );
}
// In CI a missing systemd-analyze fails the suite instead of skipping it.
const describeWithAnalyze = INSTALLED || IN_CI ? describe : describe.skip;
// sd_booted(3): systemd is PID 1 when this folder exists.
const SYSTEMD_BOOTED = existsSync('/run/systemd/system');

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'ferry-systemd-'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'cart',
    cwd: '/srv/ferry/apps/cart/current',
    command: 'node server.js',
    env: { PORT: '8080' },
    stdoutFile: '/srv/ferry/apps/cart/logs/12/stdout.log',
    stderrFile: '/srv/ferry/apps/cart/logs/12/stderr.log',
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
    ...extra,
  };
}

const ENV_FILE = '/srv/ferry/agent/env/ferry-cart.env';

const TRICKY_COMMAND = `echo 'it''s' "$HOME" \${PORT} 100% back\\slash; printf 'a\\nb'\nexit 0`;
const TRICKY_ENV = {
  PATH: '/usr/bin:/bin',
  ODD: `a b"c'd$e;%f\\g #h`,
  EMPTY: '',
  MULTI: 'one\ntwo',
};

describe('serviceUnit', () => {
  it('writes the settings of the service', () => {
    const unit = serviceUnit(spec(), ENV_FILE, { restartSec: 2 });
    expect(unit.split('\n')).toEqual(
      expect.arrayContaining([
        '[Service]',
        'WorkingDirectory=/srv/ferry/apps/cart/current',
        "ExecStart=/bin/sh -c 'node server.js'",
        'EnvironmentFile=/srv/ferry/agent/env/ferry-cart.env',
        'StandardOutput=append:/srv/ferry/apps/cart/logs/12/stdout.log',
        'StandardError=append:/srv/ferry/apps/cart/logs/12/stderr.log',
        'KillSignal=SIGTERM',
        'TimeoutStopSec=10000ms',
        'Restart=on-failure',
        'RestartSec=2',
        'WantedBy=multi-user.target',
      ]),
    );
  });

  it('escapes quotes, backslashes, $, % and line breaks', () => {
    const lines = serviceUnit(spec({ command: TRICKY_COMMAND, env: TRICKY_ENV }), ENV_FILE).split(
      '\n',
    );
    expect(lines).toContain(
      `ExecStart=/bin/sh -c 'echo \\'it\\'\\'s\\' "$$HOME" $\${PORT} 100%% back\\\\slash; printf \\'a\\\\nb\\'\\nexit 0'`,
    );
    expect(serviceUnit(spec(), '/srv/100%/env')).toContain('EnvironmentFile=/srv/100%%/env\n');
  });

  it('keeps every variable out of the unit, in the environment file, escaped as systemd reads it', () => {
    const env = { ...TRICKY_ENV, SECRET: 'unit-secret-7d2e' };
    const unit = serviceUnit(spec({ env }), ENV_FILE);
    expect(unit).not.toContain('unit-secret-7d2e');
    expect(unit).not.toMatch(/^Environment=/m);
    expect(environmentFile(spec({ env })).split('\n').slice(1)).toEqual([
      'PATH="/usr/bin:/bin"',
      `ODD="a b\\"c'd\\$e;%f\\\\g #h"`,
      'EMPTY=""',
      'MULTI="one',
      'two"',
      'SECRET="unit-secret-7d2e"',
      '',
    ]);
  });

  it('refuses a path systemd would cut', () => {
    expect(() => serviceUnit(spec({ cwd: '/srv/app ' }), ENV_FILE)).toThrow(
      expect.objectContaining({ code: 'E_SERVICE_INVALID' }),
    );
  });
});

describeWithAnalyze('serviceUnit checked by systemd-analyze verify', () => {
  beforeAll(() => {
    if (!INSTALLED) {
      throw new Error(
        'systemd-analyze is not installed; CI installs it with apt-get install -y systemd',
      );
    }
  });

  it('passes for a plain unit and for one full of characters to escape', () => {
    const dir = path.join(root, 'with space %n');
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    const plain = writeUnit(
      'ferry-plain.service',
      serviceUnit(spec({ cwd: dir }), path.join(dir, 'ferry-plain.env')),
    );
    const tricky = writeUnit(
      'ferry-tricky.service',
      serviceUnit(
        spec({
          name: 'tricky',
          cwd: dir,
          command: TRICKY_COMMAND,
          env: TRICKY_ENV,
          stdoutFile: path.join(dir, 'logs', 'out %i.log'),
          stderrFile: path.join(dir, 'logs', 'err.log'),
          stopSignal: 'SIGINT',
          stopTimeoutMs: 1500,
        }),
        path.join(dir, 'env %i', 'ferry-tricky.env'),
      ),
    );
    for (const unit of [plain, tricky]) expect(verify(unit)).toEqual({ status: 0, problems: [] });
  });

  it('catches a broken unit (so a pass means something)', () => {
    const broken = writeUnit(
      'ferry-broken.service',
      serviceUnit(spec({ cwd: root }), ENV_FILE).replace(/^KillSignal=.*$/m, 'KillSignal=SIGBOGUS'),
    );
    expect(verify(broken).problems).toEqual([expect.stringContaining('SIGBOGUS')]);
  });

  function writeUnit(name: string, text: string): string {
    const dir = mkdtempSync(path.join(root, 'units-'));
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  /**
   * `systemd-analyze verify` exits 0 for many bad settings (it logs them and
   * ignores them), and may warn about the missing system manager, so a unit
   * passes when it exits 0 and no line of its output names the unit.
   */
  function verify(file: string): { status: number | null; problems: string[] } {
    const result = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', file], { encoding: 'utf8' });
    const name = path.basename(file);
    const problems = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((line) => line.includes(name));
    return { status: result.status, problems };
  }
});

describe.skipIf(SYSTEMD_BOOTED)('SystemdDriver without systemd as PID 1', () => {
  it('surfaces systemctl failures as coded errors, and leaves no unit behind', async () => {
    const unitDir = path.join(root, 'system');
    const driver = new SystemdDriver({ unitDir });
    await expect(driver.status('cart')).rejects.toMatchObject({
      code: 'E_PROCESS_DRIVER_FAILED',
      details: expect.objectContaining({ exitCode: expect.any(Number) }),
    });
    const cwd = path.join(root, 'app');
    mkdirSync(cwd);
    await expect(
      driver.start(
        spec({
          cwd,
          stdoutFile: path.join(root, 'l', 'o.log'),
          stderrFile: path.join(root, 'l', 'e.log'),
        }),
      ),
    ).rejects.toMatchObject({ code: 'E_PROCESS_DRIVER_FAILED' });
    expect(readdirSync(unitDir)).toEqual([]);
    await driver.stop('cart'); // never installed: nothing to do
  });
});
