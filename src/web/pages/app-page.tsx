import { useState } from 'preact/hooks';
import type { Verdict } from '../../protocol/api.js';
import type { EnvironmentStatus } from '../../protocol/deployment-api.js';
import { api } from '../api/ferry-api.js';
import { useSession } from '../api/session.js';
import { useResource } from '../api/use-resource.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { ErrorBox } from '../components/error-box.js';
import { useTitle } from '../components/use-title.js';
import { promotionTarget, verdictsByVersion, versionsBeyondHistory } from '../lib/app-records.js';
import { mayRollBackWhenFailed } from '../lib/permissions.js';
import type { PageProps } from '../router/page-route.js';
import { DeploymentList, VerdictHistory } from './app/app-history-section.js';
import { BundlesSection } from './app/bundles-section.js';
import { EnvironmentsSection } from './app/environments-section.js';
import { RollbackDialog } from './app/rollback-dialog.js';
import { VerdictDialog } from './app/verdict-dialog.js';

/** The dialog open on the page, if any. */
type OpenDialog =
  | { kind: 'verdict'; version: number; verdict: Verdict }
  | { kind: 'promote'; version: number; env: string }
  | { kind: 'rollback'; env: EnvironmentStatus }
  | { kind: 'cancel'; env: EnvironmentStatus };

/** How many bundles and deployments are listed (deployments: in all, and of each environment). */
const LISTED = 50;

/** How many lines of the app's history are read: the verdict history, and most bundles' verdicts. */
const HISTORY = 1000;

/**
 * One app: its environments, its bundles with their verdicts, the verdict
 * history and its deployments; and the actions the person's role allows,
 * each confirmed in a dialog. Everything is fetched again, debounced, when
 * the app's events arrive.
 */
export function AppPage({ params }: PageProps<'/apps/:app'>) {
  const app = params.app;
  useTitle(app);
  const session = useSession();
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const ofApp = { app };
  const status = useResource(
    (signal) => api.call('status', { query: { app } }, { signal }),
    [app],
    {
      // Health and the reported version come from host facts (no app of their own).
      events: [
        ofApp,
        { kinds: ['host.connected', 'host.disconnected', 'host.facts', 'host.health'] },
      ],
      debounceMs: 700,
    },
  );
  const bundles = useResource(
    (signal) => api.call('bundles', { params: { app }, query: { limit: LISTED } }, { signal }),
    [app],
    { events: { app, kinds: ['bundle.pushed'] } },
  );
  const history = useResource(
    (signal) => api.call('appHistory', { params: { app }, query: { limit: HISTORY } }, { signal }),
    [app],
    {
      events: {
        app,
        kinds: ['verdict.changed', 'bundle.pushed', 'deployment.created', 'deployment.state'],
      },
    },
  );
  const envs = useResource((signal) => api.call('environments', {}, { signal }), []);
  const envNames = envs.data?.environments.map((env) => env.name);
  const deployments = useResource(
    async (signal) => {
      const deployments = (query: { env?: string }) =>
        api
          .call('deployments', { query: { app, limit: LISTED, ...query } }, { signal })
          .then((answer) => answer.deployments);
      const [latest, ...byEnv] = await Promise.all([
        deployments({}),
        ...(envNames ?? []).map((env) => deployments({ env })),
      ]);
      // Where each bundle landed, from each environment's own deployments: a busy
      // qa does not push prod's out of the app's latest.
      return { latest: latest ?? [], landed: byEnv.flat() };
    },
    [app, envNames?.join(',')],
    { events: { app, kinds: ['deployment.created', 'deployment.state'] } },
  );
  // Each bundle's verdict from the history, unless it was cut at its limit before
  // the bundle's last change: then from the bundle's own verdicts.
  const shown = bundles.data?.bundles.map((bundle) => bundle.version) ?? [];
  const beyond = history.data
    ? versionsBeyondHistory(history.data.history, history.data.history.length < HISTORY, shown)
    : [];
  const olderVerdicts = useResource(
    (signal) =>
      Promise.all(
        beyond.map((version) =>
          api
            .call('verdicts', { params: { app, version } }, { signal })
            .then((answer) => [version, answer.verdicts[0]?.verdict ?? 'pending'] as const),
        ),
      ),
    [app, beyond.join(',')],
  );

  const reload = () => {
    status.reload();
    bundles.reload();
    history.reload();
    deployments.reload();
  };
  const close = () => setDialog(null);

  const environments = envs.data?.environments ?? [];
  const envStatus = status.data?.apps.find((a) => a.app === app)?.environments ?? [];
  const deploymentList = deployments.data?.latest ?? [];
  const verdicts = new Map([
    ...(olderVerdicts.data ?? []),
    ...verdictsByVersion(history.data?.history ?? []),
  ]);
  const errors = [status, bundles, history, deployments, envs, olderVerdicts].filter(
    (r) => r.error !== undefined,
  );

  return (
    <section>
      <h1>{app}</h1>
      {errors.map((r, i) => (
        <ErrorBox key={i} error={r.error} />
      ))}
      {envs.data && status.data && (
        <EnvironmentsSection
          app={app}
          session={session}
          environments={environments}
          status={envStatus}
          onRollback={(env) => setDialog({ kind: 'rollback', env })}
          onCancel={(env) => setDialog({ kind: 'cancel', env })}
        />
      )}
      {bundles.data && (
        <BundlesSection
          app={app}
          session={session}
          bundles={bundles.data.bundles}
          verdicts={verdicts}
          environments={environments}
          targetOf={(version) =>
            promotionTarget(app, version, environments, deployments.data?.landed ?? [], envStatus)
          }
          onMark={(version, verdict) => setDialog({ kind: 'verdict', version, verdict })}
          onPromote={(version, env) => setDialog({ kind: 'promote', version, env })}
        />
      )}
      {history.data && <VerdictHistory history={history.data.history} />}
      {deployments.data && <DeploymentList deployments={deploymentList} />}

      {dialog?.kind === 'verdict' && (
        <VerdictDialog
          app={app}
          {...dialog}
          rollback={mayRollBackWhenFailed(
            session,
            `${app}@${dialog.version}`,
            environments.filter((env) =>
              envStatus.some((s) => s.env === env.name && s.desired?.version === dialog.version),
            ),
          )}
          onDone={reload}
          onClose={close}
        />
      )}
      {dialog?.kind === 'promote' && (
        <ConfirmDialog
          title={`Promote ${app}@${dialog.version} to ${dialog.env}?`}
          confirmLabel={`Promote to ${dialog.env}`}
          onClose={close}
          onConfirm={async () => {
            const deployment = await api.call('promote', {
              body: { app, version: dialog.version },
            });
            reload();
            return deployment;
          }}
        >
          <p>
            This deploys v{dialog.version} to every {app} host in {dialog.env}, batch by batch.
          </p>
        </ConfirmDialog>
      )}
      {dialog?.kind === 'rollback' && (
        <RollbackDialog app={app} env={dialog.env} onDone={reload} onClose={close} />
      )}
      {dialog?.kind === 'cancel' && dialog.env.active && (
        <ConfirmDialog
          title={`Cancel the deployment of ${app}@${dialog.env.active.version} to ${dialog.env.env}?`}
          confirmLabel="Cancel deployment"
          danger
          onClose={close}
          onConfirm={async () => {
            await api.call('cancelDeployment', { params: { id: dialog.env.active!.id } });
            reload();
          }}
        >
          <p>No install of it starts from now on; one that is running finishes.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
