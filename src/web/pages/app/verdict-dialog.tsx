import type { Verdict } from '../../../protocol/api.js';
import { api } from '../../api/ferry-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';

/** Mark a bundle passed or failed, with a note; failed may also roll back where it is desired. */
export function VerdictDialog({
  app,
  version,
  verdict,
  onDone,
  onClose,
}: {
  app: string;
  version: number;
  verdict: Verdict;
  onDone: () => void;
  onClose: () => void;
}) {
  return (
    <ConfirmDialog
      title={`Mark ${app}@${version} ${verdict}?`}
      confirmLabel={`Mark ${verdict}`}
      danger={verdict === 'failed'}
      onClose={onClose}
      onConfirm={async (form) => {
        const note = (form.elements.namedItem('note') as HTMLTextAreaElement).value.trim();
        const rollback = (form.elements.namedItem('rollback') as HTMLInputElement | null)?.checked;
        await api.call('markVerdict', {
          params: { app, version },
          body: {
            verdict,
            ...(note ? { note } : {}),
            ...(rollback ? { rollback: true } : {}),
          },
        });
        onDone();
      }}
    >
      <label for="verdict-note">Note (optional)</label>
      <textarea id="verdict-note" name="note" maxLength={2000} autoFocus />
      {verdict === 'failed' && (
        <label class="checkbox">
          <input type="checkbox" name="rollback" /> Also roll back every environment where it is the
          desired release
        </label>
      )}
    </ConfirmDialog>
  );
}
