import { useState } from 'preact/hooks';
import type { NoteRecord } from '../../protocol/note-api.js';
import type { Finding } from '../../protocol/report-api.js';
import { api } from '../api/ferry-api.js';
import { useSession } from '../api/session.js';
import { useResource } from '../api/use-resource.js';
import { ErrorBox } from '../components/error-box.js';
import { useTitle } from '../components/use-title.js';
import { mayCall } from '../lib/permissions.js';
import type { PageProps } from '../router/page-route.js';
import { ActionDialog, NoteDialog } from './report/note-dialogs.js';
import { ReportEnvironments } from './report/report-environments.js';
import { ReportFindings } from './report/report-findings.js';
import { type NotePermissions, ReportNotes } from './report/report-notes.js';
import { ReportSummary } from './report/report-summary.js';

type OpenDialog =
  { kind: 'note'; note?: NoteRecord; finding?: Finding } | { kind: 'action'; note: NoteRecord };

/**
 * The release report of one bundle (`GET /report?app=&version=`): headline,
 * bundles, path, tallies, installs host by host with their failures, Ferry's
 * findings, and people's notes with their actions, which the roles the note
 * routes allow may add and change here. Fetched again, debounced, when the
 * app's installs, verdicts or notes change.
 */
export function ReportPage({ params }: PageProps<'/reports/:app/:version'>) {
  const { app } = params;
  const version = Number(params.version);
  useTitle(`Report ${app}@${params.version}`);
  const session = useSession();
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const report = useResource(
    (signal) => api.call('report', { query: { app, version: params.version } }, { signal }),
    [app, params.version],
    {
      events: [
        { app, kinds: ['install.state', 'install.step', 'verdict.changed', 'deployment.state'] },
        // A note on a label has no app: every note's change is a reason to look.
        { kinds: ['note.changed'] },
      ],
      debounceMs: 1000,
    },
  );
  const may: NotePermissions = {
    addNote: mayCall('addNote', session),
    editNote: mayCall('editNote', session),
    addAction: mayCall('addAction', session),
    completeAction: mayCall('completeAction', session),
  };
  const close = () => setDialog(null);
  const reload = () => report.reload();

  return (
    <>
      <h1>
        Release report: {app}@{params.version}
      </h1>
      {report.error !== undefined && <ErrorBox error={report.error} />}
      {report.data === undefined ? (
        report.error === undefined && (
          <p class="muted" aria-busy="true">
            Loading…
          </p>
        )
      ) : (
        <>
          <ReportSummary report={report.data} />
          <ReportFindings
            findings={report.data.findings}
            mayNote={may.addNote}
            onConfirm={(finding) => setDialog({ kind: 'note', finding })}
          />
          <ReportNotes
            sections={report.data.notes}
            may={may}
            onAdd={() => setDialog({ kind: 'note' })}
            onEdit={(note) => setDialog({ kind: 'note', note })}
            onAddAction={(note) => setDialog({ kind: 'action', note })}
            onChanged={reload}
          />
          <ReportEnvironments environments={report.data.environments} />
        </>
      )}
      {dialog?.kind === 'note' && (
        <NoteDialog
          app={app}
          version={version}
          {...(dialog.note ? { note: dialog.note } : {})}
          {...(dialog.finding ? { finding: dialog.finding } : {})}
          onDone={reload}
          onClose={close}
        />
      )}
      {dialog?.kind === 'action' && (
        <ActionDialog note={dialog.note} onDone={reload} onClose={close} />
      )}
    </>
  );
}
