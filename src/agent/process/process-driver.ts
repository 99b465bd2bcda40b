/**
 * How the agent runs an app's service. Three drivers implement it: `builtin`
 * (the agent spawns and supervises the process itself), `supervisord` and
 * `systemd`. The install pipeline only ever talks to this interface.
 */

/** Everything a driver needs to run one service. */
export interface ServiceSpec {
  /** Unique on the host: the app's name, such as `cart`. Lower-case letters, digits, dashes. */
  name: string;
  /** Working folder: the app's `current` link (so a switch of release needs only a restart). */
  cwd: string;
  /** The command line, run by `/bin/sh -c`. */
  command: string;
  /** The complete environment of the process; nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Where the service's standard output and standard error go, appended, in two separate files. */
  stdoutFile: string;
  stderrFile: string;
  /** Sent first to stop the service; SIGKILL follows after `stopTimeoutMs`. */
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
}

/** What a driver knows of a service now. */
export interface ServiceStatus {
  running: boolean;
  /** The main process's id when running and known. */
  pid: number | null;
}

/** The drivers a host can be configured with. */
export type ProcessDriverKind = 'builtin' | 'supervisord' | 'systemd';

export interface ProcessDriver {
  readonly kind: ProcessDriverKind;
  /** Starts the service, or leaves it alone if it already runs with this spec. */
  start(spec: ServiceSpec): Promise<void>;
  /** Stops it (`stopSignal`, then SIGKILL after `stopTimeoutMs`); a stopped or unknown service is fine. */
  stop(name: string): Promise<void>;
  /** Stops it if running and starts it with `spec`, which may differ from the last one. */
  restart(spec: ServiceSpec): Promise<void>;
  status(name: string): Promise<ServiceStatus>;
  /** Lets go of the driver's own resources; services keep running. */
  close(): Promise<void>;
}
