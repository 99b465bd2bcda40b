import type { TransportLogger } from '../transport/transport.js';

/** JSON lines on stderr: what the agent does, for journald, supervisord or a terminal. */
export class AgentLogger implements TransportLogger {
  info(details: object, message: string): void {
    this.write('info', details, message);
  }
  warn(details: object, message: string): void {
    this.write('warn', details, message);
  }
  error(details: object, message: string): void {
    this.write('error', details, message);
  }

  private write(level: string, details: object, message: string): void {
    const plain = Object.fromEntries(
      Object.entries(details).map(([k, v]) => [k, v instanceof Error ? v.message : (v as unknown)]),
    );
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...plain })}\n`,
    );
  }
}
