import type { ActiveSession, Store, StoredToken } from '../../store/store.js';
import type { EventBus } from './event-bus.js';

/** The longest delay `setTimeout` takes (about 24.8 days); a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a long-lived request (the event stream) was authenticated with when it opened. */
export interface StreamCredential {
  token: StoredToken;
  /** The dashboard session, when its cookie authenticated the request. */
  session?: ActiveSession | undefined;
}

/** A watch on one credential; see `watchCredential`. */
export interface CredentialWatch {
  /**
   * Asks the store whether the credential still counts: the session has not
   * ended or expired, or the bearer token is not revoked. The caller runs it
   * on its heartbeat; it is how sign-outs and revocations made on another
   * replica are seen.
   */
  stillCounts(): Promise<boolean>;
  /** Stops watching (the request ended). */
  close(): void;
}

/**
 * Watches the credential of a request that outlives its authentication (the
 * auth hook checks a request once, as it opens; an event stream stays open
 * for hours). `ended` is called, once at most, when this replica ends the
 * session or revokes the token (local notices) and when the session expires
 * (a timer at its `expiresAt`). Another replica's sign-out or revocation is
 * found by `stillCounts`.
 *
 * @example
 *   const watch = watchCredential({ token, session }, { store, events }, (why) => end(why));
 *   setInterval(async () => (await watch.stillCounts()) || end('no longer counts'), 15_000);
 */
export function watchCredential(
  credential: StreamCredential,
  deps: { store: Store; events: Pick<EventBus, 'onLocal'> },
  ended: (reason: string) => void,
): CredentialWatch {
  const { token, session } = credential;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const end = (reason: string): void => {
    if (closed) return;
    watch.close();
    ended(reason);
  };
  const unsubscribe = [
    deps.events.onLocal('token.revoked', (notice) => {
      if (notice.tokenId === token.id) end('its token was revoked');
    }),
  ];
  if (session !== undefined) {
    unsubscribe.push(
      deps.events.onLocal('session.ended', (notice) => {
        if (notice.idHash === session.idHash) end('its session ended');
      }),
    );
  }
  const watch: CredentialWatch = {
    async stillCounts() {
      if (closed) return false;
      if (session === undefined)
        return (await deps.store.tokens.findActive(token.tokenHash)) !== undefined;
      const now = new Date().toISOString();
      return (await deps.store.sessions.findActive(session.idHash, now)) !== undefined;
    },
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      for (const off of unsubscribe) off();
    },
  };
  if (session !== undefined) {
    const expiresAt = Date.parse(session.expiresAt);
    const wait = (): void => {
      const left = expiresAt - Date.now();
      if (left <= 0) {
        end('its session expired');
        return;
      }
      // The stream holds the process's attention anyway; the timer need not.
      timer = setTimeout(wait, Math.min(left, MAX_TIMER_MS)).unref();
    };
    wait();
  }
  return watch;
}
