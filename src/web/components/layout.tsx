import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Session } from '../../protocol/api.js';
import { signOut } from '../api/session.js';
import { ConnectionBanner } from './connection-banner.js';
import { ErrorBox } from './error-box.js';

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/activity', label: 'Activity' },
  { href: '/hosts', label: 'Hosts' },
  { href: '/alerts', label: 'Alerts' },
] as const;

function isCurrent(href: string, pathname: string): boolean {
  return href === '/'
    ? pathname === '/' || pathname.startsWith('/apps/')
    : pathname.startsWith(href);
}

/**
 * The frame of every signed-in page: a skip link, the navigation, who is
 * signed in with which role, Sign out, the connection banner, and the page
 * in `<main id="main">`.
 */
export function Layout({
  session,
  pathname,
  children,
}: {
  session: Session;
  pathname: string;
  children: ComponentChildren;
}) {
  const [error, setError] = useState<unknown>(undefined);
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top-bar">
        <a class="brand" href="/">
          Ferry
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <a
                  href={item.href}
                  aria-current={isCurrent(item.href, pathname) ? 'page' : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who" data-testid="who">
          <span class="who-name">{session.name}</span>{' '}
          <span class="who-role">
            ({session.role}
            {session.env ? `, ${session.env} only` : ''})
          </span>
          <button
            type="button"
            class="button secondary small"
            onClick={() => {
              setError(undefined);
              signOut().catch(setError);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      {error !== undefined && <ErrorBox error={error} title="Could not sign out:" />}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
