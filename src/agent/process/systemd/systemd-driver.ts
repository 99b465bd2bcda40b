import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkServiceName, createPrivateLogFile } from '../check-service-spec.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { ProcessDriver, ServiceSpec, ServiceStatus } from '../process-driver.js';
import { controlCommandFailed, runControlCommand } from '../run-control-command.js';
import { writePrivateFile } from '../private-file.js';
import { type ServiceUnitOptions, environmentFile, serviceUnit, unitName } from './service-unit.js';

export interface SystemdDriverOptions extends ServiceUnitOptions {
  /** Where units are written. Default `/etc/systemd/system`. */
  unitDir?: string;
  /**
   * Where each service's environment file goes (`ferry-<name>.env`, mode 0600,
   * the folder 0700): the agent's own state folder. Default: the unit folder.
   */
  envDir?: string;
  /** The `systemctl` program. Default: `systemctl` on the agent's PATH. */
  systemctl?: string;
  /** Time allowed to one systemctl call, on top of the service's stop timeout. Default 30 s. */
  timeoutMs?: number;
}

/**
 * The `systemd` process driver: writes `ferry-<name>.service` (see
 * `serviceUnit`) into the unit folder, the service's environment into
 * `<envDir>/ferry-<name>.env` (mode 0600), and drives `systemctl`. A started
 * service is also enabled and a stopped one disabled, so that a reboot keeps
 * each as Ferry left it.
 *
 * Only the unit text is tested on a real systemd (`systemd-analyze verify`);
 * the machine that runs Ferry's tests has no systemd as PID 1.
 *
 * @example
 *   const driver = new SystemdDriver({ unitDir: '/etc/systemd/system' });
 */
export class SystemdDriver implements ProcessDriver {
  readonly kind = 'systemd';

  private readonly queue = new KeyedQueue();
  private readonly unitDir: string;
  private readonly envDir: string;
  private readonly systemctl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: SystemdDriverOptions = {}) {
    this.unitDir = options.unitDir ?? '/etc/systemd/system';
    this.envDir = options.envDir ?? this.unitDir;
    this.systemctl = options.systemctl ?? 'systemctl';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async start(spec: ServiceSpec): Promise<void> {
    const unit = serviceUnit(spec, this.envFile(spec.name), this.options);
    await this.queue.run(spec.name, async () => {
      const changed = await this.install(spec, unit);
      await this.ctl(['enable', unitName(spec.name)]);
      // `start` leaves a running unit alone; a changed one must restart to take effect.
      await this.ctl([changed ? 'restart' : 'start', unitName(spec.name)], spec.stopTimeoutMs);
    });
  }

  async restart(spec: ServiceSpec): Promise<void> {
    const unit = serviceUnit(spec, this.envFile(spec.name), this.options);
    await this.queue.run(spec.name, async () => {
      await this.install(spec, unit);
      await this.ctl(['enable', unitName(spec.name)]);
      await this.ctl(['restart', unitName(spec.name)], spec.stopTimeoutMs);
    });
  }

  async stop(name: string): Promise<void> {
    checkServiceName(name);
    await this.queue.run(name, async () => {
      const text = await readFile(this.unitFile(name), 'utf8').catch(() => null);
      if (text === null) return; // never started here
      const stopMs = Number(/^TimeoutStopSec=(\d+)ms$/m.exec(text)?.[1] ?? 0);
      await this.ctl(['stop', unitName(name)], stopMs);
      await this.ctl(['disable', unitName(name)]);
    });
  }

  async status(name: string): Promise<ServiceStatus> {
    checkServiceName(name);
    const output = await this.ctl(['show', '-p', 'ActiveState', '-p', 'MainPID', unitName(name)]);
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(output)?.[1];
    const pid = Number(value('MainPID') ?? 0);
    return value('ActiveState') === 'active' && pid > 0
      ? { running: true, pid }
      : { running: false, pid: null };
  }

  async close(): Promise<void> {
    await this.queue.idle();
  }

  /**
   * Writes the environment file and the unit when they changed, and has
   * systemd reload a changed unit. True when either changed (the service must
   * restart to take it).
   */
  private async install(spec: ServiceSpec, unit: string): Promise<boolean> {
    // systemd appends to them as they are: created here, they are private.
    await createPrivateLogFile(spec.stdoutFile);
    await createPrivateLogFile(spec.stderrFile);
    await mkdir(this.unitDir, { recursive: true });
    await mkdir(this.envDir, { recursive: true, mode: 0o700 });
    const envFile = this.envFile(spec.name);
    const envChanged = await writePrivateFile(envFile, environmentFile(spec));
    const file = this.unitFile(spec.name);
    if ((await readFile(file, 'utf8').catch(() => null)) === unit) return envChanged;
    const temporary = path.join(this.unitDir, `.${path.basename(file)}.tmp`);
    await writeFile(temporary, unit, { mode: 0o644 });
    await rename(temporary, file);
    try {
      await this.ctl(['daemon-reload']);
    } catch (error) {
      // Unloaded, it would look unchanged to the next start, which would then skip the reload.
      await rm(file, { force: true });
      await rm(envFile, { force: true });
      throw error;
    }
    return true;
  }

  /** Runs `systemctl`; any non-zero exit is `E_PROCESS_DRIVER_FAILED` with its output. */
  private async ctl(args: string[], extraTimeoutMs = 0): Promise<string> {
    const result = await runControlCommand(this.systemctl, args, this.timeoutMs + extraTimeoutMs);
    if (result.exitCode !== 0) {
      throw controlCommandFailed(this.systemctl, args, result, `systemd could not ${args[0]}`);
    }
    return result.stdout;
  }

  private envFile(name: string): string {
    return path.join(this.envDir, `${unitName(name).replace(/\.service$/, '')}.env`);
  }

  private unitFile(name: string): string {
    return path.join(this.unitDir, unitName(name));
  }
}
