import { API_PREFIX } from '../protocol/api.js';
import { type InstallWanted, installWantedSchema } from '../protocol/deployment-api.js';
import { FerryError, isErrorCode } from '../protocol/errors.js';
import type { AgentIdentity } from './agent-identity.js';

/** How long the agent waits for the server's answer. */
const TIMEOUT_MS = 15_000;

/**
 * Asks the server whether it still wants an install the agent has not started:
 * a job may wait in the host's queue while the server moves on (it skipped the
 * host as offline, or the deployment was cancelled). An install the server does
 * not know for this host is not wanted. Throws when the server cannot be asked,
 * so that the job stays unacknowledged and comes again.
 */
export async function askWanted(
  identity: Pick<AgentIdentity, 'server' | 'token'>,
  installId: string,
): Promise<InstallWanted> {
  let response: Response;
  try {
    response = await fetch(
      `${identity.server}${API_PREFIX}/agent/installs/${encodeURIComponent(installId)}`,
      {
        headers: { authorization: `Bearer ${identity.token}` },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
    );
  } catch (err) {
    throw new FerryError(
      'E_SERVER_UNREACHABLE',
      `Cannot ask the Ferry server at ${identity.server} about install ${installId} (${(err as Error).message})`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { code?: unknown; message?: unknown };
  if (response.status === 404 && body.code === 'E_INSTALL_NOT_FOUND') {
    return { proceed: false, reason: 'the server has no such install for this host' };
  }
  if (!response.ok) {
    throw new FerryError(
      isErrorCode(body.code) ? body.code : 'E_INTERNAL',
      `The server did not say whether install ${installId} is wanted: ${typeof body.message === 'string' ? body.message : response.status}`,
    );
  }
  return installWantedSchema.parse(body);
}
