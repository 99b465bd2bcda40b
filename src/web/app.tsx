import { useEffect, useRef, useState } from 'preact/hooks';
import { liveEvents } from './api/live-events.js';
import { loadSession, sessionEnded, useSessionState } from './api/session.js';
import { ErrorBox } from './components/error-box.js';
import { Layout } from './components/layout.js';
import { nextPath, signInPath } from './lib/sign-in-path.js';
import { NotFoundPage } from './pages/not-found-page.js';
import { findPage } from './router/page-route.js';
import { interceptLinks, navigate, usePlace } from './router/router.js';
import { PAGES } from './routes.js';

/**
 * The dashboard: asks the server who it is, then shows the page of the
 * address — the sign-in page to a person not signed in, any other page in
 * the layout, with the live event stream running while signed in.
 */
export function App() {
  const place = usePlace();
  const sessionState = useSessionState();
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const main = useRef<string>(place.pathname);

  useEffect(() => interceptLinks(), []);

  const load = () => {
    setLoadError(undefined);
    loadSession().catch(setLoadError);
  };
  useEffect(load, []);

  useEffect(() => {
    if (sessionState.status !== 'signed-in') return;
    liveEvents.start(sessionEnded);
    return () => liveEvents.stop();
  }, [sessionState.status]);

  const match = findPage(PAGES, place.pathname);
  const isPublic = match?.route.public ?? false;

  useEffect(() => {
    if (sessionState.status === 'signed-out' && !isPublic) {
      navigate(signInPath(`${place.pathname}${place.search}`), { replace: true });
    } else if (sessionState.status === 'signed-in' && isPublic) {
      navigate(nextPath(place.search, location.origin), { replace: true });
    }
  }, [sessionState.status, isPublic, place.pathname, place.search]);

  // After moving to another page, focus its content, as a full page load would
  // put a screen reader at the top of the new page.
  useEffect(() => {
    if (main.current === place.pathname) return;
    main.current = place.pathname;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [place.pathname]);

  if (loadError !== undefined) {
    return (
      <main id="main" class="centred">
        <h1>Ferry</h1>
        <ErrorBox error={loadError} title="The server did not answer:" />
        <button type="button" class="button primary" onClick={load}>
          Try again
        </button>
      </main>
    );
  }
  if (sessionState.status === 'loading') {
    return (
      <main id="main" class="centred" aria-busy="true">
        <p class="muted">Loading…</p>
      </main>
    );
  }
  if (match && isPublic) {
    const Page = match.route.component;
    return <Page params={match.params} search={place.search} />;
  }
  if (sessionState.status !== 'signed-in') return null;
  const Page = match?.route.component ?? NotFoundPage;
  const params = match?.params ?? {};
  return (
    <Layout session={sessionState.session} pathname={place.pathname}>
      <Page
        key={`${match?.route.path ?? ''}|${JSON.stringify(params)}`}
        params={params}
        search={place.search}
      />
    </Layout>
  );
}
