import { useId } from 'preact/hooks';
import type { Verdict } from '../../../protocol/api.js';
import { api } from '../../api/ferry-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import type { Permission } from '../../lib/permissions.js';

/**
 * Mark a bundle passed or failed, with a note; failed may also roll back where
 * it is the desired release — offered only to whom may roll back there
 * (`rollback`), else shown disabled with the reason: the server would refuse
 * the whole mark.
 */
export function VerdictDialog({
  app,
  version,
  verdict,
  rollback,
  onDone,
  onClose,
}: {
  app: string;
  version: number;
  verdict: Verdict;
  rollback: Permission;
  onDone: () => void;
  onClose: () => void;
}) {
  const reasonId = useId();
  return (
    <ConfirmDialog
      title={`Mark ${app}@${version} ${verdict}?`}
      confirmLabel={`Mark ${verdict}`}
      danger={verdict === 'failed'}
      onClose={onClose}
      onConfirm={async (form) => {
        const note = (form.elements.namedItem('note') as HTMLTextAreaElement).value.trim();
        const box = form.elements.namedItem('rollback') as HTMLInputElement | null;
        const also = box !== null && !box.disabled && box.checked;
        await api.call('markVerdict', {
          params: { app, version },
          body: {
            verdict,
            ...(note ? { note } : {}),
            ...(also ? { rollback: true } : {}),
          },
        });
        onDone();
      }}
    >
      <label for="verdict-note">Note (optional)</label>
      <textarea id="verdict-note" name="note" maxLength={2000} autoFocus />
      {verdict === 'failed' && (
        <>
          <label class="checkbox">
            <input
              type="checkbox"
              name="rollback"
              disabled={!rollback.allowed}
              aria-describedby={rollback.allowed ? undefined : reasonId}
            />{' '}
            Also roll back every environment where it is the desired release
          </label>
          {!rollback.allowed && (
            <p class="reason" id={reasonId} data-testid="rollback-reason">
              {rollback.reason}
            </p>
          )}
        </>
      )}
    </ConfirmDialog>
  );
}
