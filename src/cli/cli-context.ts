import { readFileSync } from 'node:fs';
import { ServerTrust } from '../client/server-trust.js';
import { FerryError } from '../protocol/errors.js';
import { ApiClient } from './api-client.js';
import { readSavedLogin } from './credentials.js';

/** The server a CLI talks to when nothing says otherwise. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7400';

/** Options every command accepts. */
export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

/**
 * The API client for a command: `--server`/`--token`, else `FERRY_SERVER` /
 * `FERRY_TOKEN`, else what `ferry login` saved, else the local default server.
 * The server's certificate is checked against the CA in `FERRY_CA_FILE`, else
 * the one `ferry login --join` pinned for that server, else the system's store.
 */
export async function connect(
  options: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ApiClient> {
  const saved = await readSavedLogin(env);
  const server = options.server ?? setting(env, 'FERRY_SERVER') ?? saved?.server ?? DEFAULT_SERVER;
  // A saved token belongs to the saved server; it is not sent to another one.
  const savedToken = saved && saved.server === server ? saved.token : undefined;
  const token = options.token ?? setting(env, 'FERRY_TOKEN') ?? savedToken;
  const ca = caFileOf(env) ?? (saved && saved.server === server ? saved.ca : undefined);
  return new ApiClient(
    server,
    token,
    ca === undefined ? ServerTrust.system() : ServerTrust.pinned(ca),
  );
}

/** The CA certificates of `FERRY_CA_FILE` (PEM), if it is set. */
export function caFileOf(env: NodeJS.ProcessEnv): string | undefined {
  const file = setting(env, 'FERRY_CA_FILE');
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `FERRY_CA_FILE ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

/** An environment variable, with an empty value counted as unset. */
export function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
