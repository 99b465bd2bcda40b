import { useState } from 'preact/hooks';
import { signIn } from '../api/session.js';
import { ErrorBox } from '../components/error-box.js';
import { useTitle } from '../components/use-title.js';
import { nextPath } from '../lib/sign-in-path.js';
import type { PageProps } from '../router/page-route.js';
import { navigate } from '../router/router.js';

/**
 * Sign in: a person pastes a token once; the server exchanges it for a
 * session cookie. The token is read from the field at the moment of sending
 * and the field is emptied after: it is never kept in the page's state,
 * storage or address (the form posts, so even without script it is no query).
 */
export function SignInPage({ search }: PageProps<'/sign-in'>) {
  useTitle('Sign in');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const submit = async (event: Event) => {
    event.preventDefault();
    const field = (event.currentTarget as HTMLFormElement).elements.namedItem('token');
    if (!(field instanceof HTMLInputElement)) return;
    setBusy(true);
    setError(undefined);
    try {
      await signIn(field.value.trim());
      navigate(nextPath(search, location.origin), { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    } finally {
      field.value = '';
    }
  };

  return (
    <main id="main" class="sign-in">
      <h1>Ferry</h1>
      <form method="post" class="sign-in-form" onSubmit={(event) => void submit(event)}>
        <h2>Sign in</h2>
        <p class="muted">
          Paste your token (from <code>ferry tokens create</code>, or the admin token in{' '}
          <code>&lt;data&gt;/admin-token</code>). It is exchanged for a session and not kept here.
        </p>
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          maxLength={200}
          autoFocus
        />
        {error !== undefined && <ErrorBox error={error} title="Not signed in:" />}
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
