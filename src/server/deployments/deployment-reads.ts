import type {
  DeploymentListQuery,
  DeploymentLogs,
  DeploymentRecord,
} from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import type { Store, StoredDeployment } from '../../store/store.js';
import type { ConfigSnapshots } from './config-snapshots.js';
import { toDeploymentRecord } from './deployment-record.js';

/** A deployment with its installs, each with the variables it was sent with (secrets masked). */
export async function deploymentRecord(
  store: Pick<Store, 'deployments' | 'installs'>,
  snapshots: Pick<ConfigSnapshots, 'shown'>,
  id: string,
): Promise<DeploymentRecord> {
  const deployment = await storedDeployment(store, id);
  const record = toDeploymentRecord(deployment, await store.installs.list({ deploymentId: id }));
  for (const install of record.installs) install.variables = await snapshots.shown(install.id);
  return record;
}

/** Deployments, newest first, with their installs. */
export async function listDeployments(
  store: Pick<Store, 'deployments' | 'installs'>,
  query: DeploymentListQuery,
): Promise<DeploymentRecord[]> {
  const deployments = await store.deployments.list({
    ...(query.app === undefined ? {} : { app: query.app }),
    ...(query.env === undefined ? {} : { env: query.env }),
    limit: query.limit ?? 20,
  });
  return Promise.all(
    deployments.map(async (d) =>
      toDeploymentRecord(d, await store.installs.list({ deploymentId: d.id })),
    ),
  );
}

/** Every install's step output, host by host; `host` keeps one host's. */
export async function deploymentLogs(
  store: Pick<Store, 'deployments' | 'installs'>,
  id: string,
  host?: string,
): Promise<DeploymentLogs> {
  await storedDeployment(store, id);
  const installs = (await store.installs.list({ deploymentId: id }))
    .filter((i) => host === undefined || i.host === host)
    .reverse();
  if (host !== undefined && installs.length === 0) {
    throw new FerryError('E_HOST_NOT_FOUND', `Deployment ${id} has no install on ${host}`, {
      id,
      host,
    });
  }
  return {
    deploymentId: id,
    installs: await Promise.all(
      installs.map(async (install) => ({
        installId: install.id,
        host: install.host,
        version: install.version,
        purpose: install.purpose,
        state: install.state,
        steps: (await store.installs.logs(install.id))?.steps ?? [],
      })),
    ),
  };
}

/** A deployment as stored; `E_DEPLOYMENT_NOT_FOUND` when there is none. */
export async function storedDeployment(
  store: Pick<Store, 'deployments'>,
  id: string,
): Promise<StoredDeployment> {
  const deployment = await store.deployments.get(id);
  if (!deployment) {
    throw new FerryError('E_DEPLOYMENT_NOT_FOUND', `No deployment ${id}`, { id });
  }
  return deployment;
}
