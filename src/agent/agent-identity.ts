import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { enrollResultSchema, type EnrollBody } from '../protocol/api.js';
import { API_PREFIX } from '../protocol/api.js';
import { FerryError, isErrorCode } from '../protocol/errors.js';

/** Who this agent is: kept in `<root>/agent/identity.json`, mode 0600. */
export interface AgentIdentity {
  server: string;
  hostId: string;
  name: string;
  env: string;
  /** The host's own token, given by the server at enrolment. */
  token: string;
}

/**
 * The agent's identity: the one kept under `<root>/agent` (a restarted agent is
 * the same host), or a new one from enrolling with `enrollToken`.
 */
export async function loadOrEnroll(
  root: string,
  server: string,
  enrollToken: string | undefined,
  body: EnrollBody,
): Promise<{ identity: AgentIdentity; enrolled: boolean }> {
  const file = path.join(root, 'agent', 'identity.json');
  try {
    return { identity: JSON.parse(await readFile(file, 'utf8')) as AgentIdentity, enrolled: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!enrollToken) {
    throw new FerryError(
      'E_AUTH_REQUIRED',
      `This agent has no identity in ${path.dirname(file)} yet: enrol it with a token in --token-file FILE or FERRY_TOKEN (from \`ferry tokens create --role agent --env ${body.env}\`)`,
    );
  }
  let response: Response;
  try {
    response = await fetch(`${server}${API_PREFIX}/agents/enroll`, {
      method: 'POST',
      headers: { authorization: `Bearer ${enrollToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new FerryError(
      'E_SERVER_UNREACHABLE',
      `Cannot reach the Ferry server at ${server} (${(err as Error).message})`,
    );
  }
  const answer = (await response.json()) as { code?: unknown; message?: string };
  if (!response.ok) {
    const code = isErrorCode(answer.code) ? answer.code : 'E_INTERNAL';
    throw new FerryError(code, `Enrolment refused: ${answer.message ?? response.status}`);
  }
  const enrolled = enrollResultSchema.parse(answer);
  const identity: AgentIdentity = {
    server,
    hostId: enrolled.hostId,
    name: enrolled.name,
    env: body.env,
    token: enrolled.token,
  };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.partial`, JSON.stringify(identity, null, 2), { mode: 0o600 });
  await chmod(`${file}.partial`, 0o600);
  await rename(`${file}.partial`, file);
  return { identity, enrolled: true };
}
