import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What `ferry login` saves: one server and the token to use with it. */
export interface SavedLogin {
  server: string;
  token: string;
  /** The server's CA (PEM), pinned by `ferry login --join`: the only one trusted for this server. */
  ca?: string | undefined;
}

/** The file `ferry login` writes: `$FERRY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/ferry`, else `~/.config/ferry`. */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir =
    env.FERRY_CONFIG_DIR ??
    path.join(env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'ferry');
  return path.join(dir, 'credentials.json');
}

export async function readSavedLogin(
  env: NodeJS.ProcessEnv = process.env,
): Promise<SavedLogin | undefined> {
  try {
    const parsed = JSON.parse(await readFile(credentialsFile(env), 'utf8')) as Partial<SavedLogin>;
    if (typeof parsed.server === 'string' && typeof parsed.token === 'string') {
      return {
        server: parsed.server,
        token: parsed.token,
        ...(typeof parsed.ca === 'string' ? { ca: parsed.ca } : {}),
      };
    }
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Saves the login with mode 0600 in a 0700 folder: the token is a secret. */
export async function saveLogin(
  login: SavedLogin,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const file = credentialsFile(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
