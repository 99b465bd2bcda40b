import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorBox } from './error-box.js';

/**
 * Asks before an action: a modal `<dialog>` (the rest of the page is inert
 * while it is open, so focus stays in it), Escape or Cancel closes it, and
 * Confirm runs the action. While it runs the buttons wait; a refusal (the
 * server's error) is shown in the dialog, which stays open.
 *
 * @example
 *   <ConfirmDialog title="Mark cart@12 passed?" confirmLabel="Mark passed"
 *     onConfirm={() => api.call('markVerdict', …)} onClose={() => setOpen(false)}>
 *     <textarea name="note" />
 *   </ConfirmDialog>
 */
export function ConfirmDialog({
  title,
  confirmLabel,
  onConfirm,
  onClose,
  children,
  danger = false,
  confirmDisabled = false,
}: {
  title: string;
  confirmLabel: string;
  /** The action; the dialog closes when it resolves. It may read the dialog's form. */
  onConfirm: (form: HTMLFormElement) => Promise<unknown>;
  onClose: () => void;
  children?: ComponentChildren;
  danger?: boolean;
  /** Confirm cannot be pressed (nothing chosen yet, or nothing to choose). */
  confirmDisabled?: boolean;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    element.showModal();
    return () => {
      if (element.open) element.close();
    };
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy || confirmDisabled) return;
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm(event.currentTarget as HTMLFormElement);
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      class="confirm-dialog"
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) onClose();
      }}
      // The browser may close it without a cancel it lets the page refuse (Escape pressed
      // twice): the page must then forget it too, or the action could not be opened again.
      onClose={() => onClose()}
    >
      <form onSubmit={(event) => void submit(event)}>
        <h2 id="confirm-title">{title}</h2>
        <div class="dialog-body">{children}</div>
        {error !== undefined && <ErrorBox error={error} title="Refused:" />}
        <div class="dialog-buttons">
          <button type="button" class="button secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button
            type="submit"
            class={`button ${danger ? 'danger' : 'primary'}`}
            disabled={busy || confirmDisabled}
          >
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
