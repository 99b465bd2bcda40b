import { FerryError } from '../../protocol/errors.js';

/**
 * An error as a person reads it: the server's message, and its code to look
 * up in docs/errors.md. Shown as text (`role="alert"`, so it is announced).
 *
 * @example
 *   {resource.error !== undefined && <ErrorBox error={resource.error} />}
 */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  const message =
    error instanceof Error
      ? error.message
      : typeof error === 'string'
        ? error
        : 'Something went wrong';
  return (
    <div class="error-box" role="alert" data-testid="error">
      {title && <strong>{title} </strong>}
      <span class="error-message">{message}</span>
      {error instanceof FerryError && (
        <>
          {' '}
          <code class="error-code">{error.code}</code>
        </>
      )}
    </div>
  );
}
