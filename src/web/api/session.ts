import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../client/ferry-client.js';
import type { Session } from '../../protocol/api.js';
import { signInPath } from '../lib/sign-in-path.js';
import { navigate } from '../router/router.js';
import { api, setCsrfToken } from './ferry-api.js';

/** Whether the page knows yet who it is: asking, signed in (with the session), or signed out. */
export type SessionState =
  | { readonly status: 'loading' }
  | { readonly status: 'signed-in'; readonly session: Session }
  | { readonly status: 'signed-out' };

let state: SessionState = { status: 'loading' };
const listeners = new Set<(state: SessionState) => void>();

function setState(next: SessionState): void {
  state = next;
  setCsrfToken(next.status === 'signed-in' ? next.session.csrfToken : undefined);
  for (const listener of listeners) listener(next);
}

/** The session state now, rendering again when it changes. */
export function useSessionState(): SessionState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    listeners.add(setCurrent);
    setCurrent(state);
    return () => void listeners.delete(setCurrent);
  }, []);
  return current;
}

/** The signed-in session; for pages that render only when signed in. */
export function useSession(): Session {
  const current = useSessionState();
  if (current.status !== 'signed-in') throw new Error('useSession outside a signed-in page');
  return current.session;
}

/** True for the answer of a request whose session is gone (expired, signed out elsewhere, revoked). */
export function isSignedOutError(err: unknown): boolean {
  return err instanceof ApiError && err.httpStatus === 401;
}

/**
 * Asks the server who this page is (`GET /session`) when it loads: a
 * session cookie that still counts gives the session; none, or an expired
 * one, leaves it signed out. Another error (the server down) is thrown.
 */
export async function loadSession(): Promise<SessionState> {
  try {
    setState({ status: 'signed-in', session: await api.call('session') });
  } catch (err) {
    if (!isSignedOutError(err)) throw err;
    setState({ status: 'signed-out' });
  }
  return state;
}

/**
 * Exchanges a person's token for a session (`POST /session`). The token is
 * passed straight through: nothing here keeps it.
 */
export async function signIn(token: string): Promise<Session> {
  const session = await api.call('startSession', { body: { token } });
  setState({ status: 'signed-in', session });
  return session;
}

/** Ends the session on the server (`DELETE /session`), then shows the sign-in page. */
export async function signOut(): Promise<void> {
  try {
    await api.call('endSession');
  } catch (err) {
    // Already ended (expired, or signed out in another tab): signed out all the same.
    if (!isSignedOutError(err)) throw err;
  }
  setState({ status: 'signed-out' });
  navigate('/sign-in', { replace: true });
}

/**
 * The session ended under the page (a call answered 401): signed out, and
 * sent to sign in again, back to where it was afterwards.
 */
export function sessionEnded(): void {
  if (state.status === 'signed-out') return;
  setState({ status: 'signed-out' });
  navigate(signInPath(`${location.pathname}${location.search}`), { replace: true });
}
