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
  return new ApiClient(server, token);
}

/** An environment variable, with an empty value counted as unset. */
export function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
