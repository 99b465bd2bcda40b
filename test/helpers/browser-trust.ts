import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spkiSha256Base64 } from '../../src/tls/pem.js';

/**
 * Chromium flags that make it accept exactly the key of a harness server's
 * certificate (`--ignore-certificate-errors-spki-list`), and no other: the
 * browser does not know the server's own CA, and a test must not turn
 * checking off. The key stays the same across a restart of the server.
 *
 * @example
 *   chromium.launch({ executablePath, args: chromiumTrustArgs(cluster.server.dataDir) });
 */
export function chromiumTrustArgs(serverData: string): string[] {
  const chain = readFileSync(path.join(serverData, 'tls', 'server.pem'), 'utf8');
  return [`--ignore-certificate-errors-spki-list=${spkiSha256Base64(chain)}`];
}

/** What `browserFetch` answers: the status and the body's text. */
export interface BrowserAnswer {
  status: number;
  text: string;
  json<T = unknown>(): T;
}

/**
 * A request made by the page itself (`fetch` in the browser, with its cookies):
 * Playwright's own `page.request` speaks TLS from Node, which does not know the
 * server's CA, where Chromium accepts its key (`chromiumTrustArgs`).
 *
 * @example
 *   const answer = await browserFetch(page, `${origin}/api/v1/session`);
 *   answer.status; // 401 once signed out
 */
export async function browserFetch(
  page: { evaluate<R, A>(fn: (arg: A) => Promise<R>, arg: A): Promise<R> },
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<BrowserAnswer> {
  const answer = await page.evaluate(
    async (request: {
      url: string;
      method: string;
      body: string | null;
      headers: Record<string, string>;
    }) => {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        credentials: 'same-origin',
        ...(request.body === null ? {} : { body: request.body }),
      });
      return { status: response.status, text: await response.text() };
    },
    {
      url,
      method: init.method ?? 'GET',
      body: init.body === undefined ? null : JSON.stringify(init.body),
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
    },
  );
  return { ...answer, json: <T>() => JSON.parse(answer.text) as T };
}

/**
 * A page of `context` open on the server's health route, to make requests from
 * (`browserFetch`) without them counting as the page under test's: a refused
 * request is logged in the console of the page that made it. Closed after `use`.
 */
export async function withProbePage<T>(
  context: { newPage(): Promise<ProbePage> },
  origin: string,
  use: (page: ProbePage) => Promise<T>,
): Promise<T> {
  const probe = await context.newPage();
  try {
    await probe.goto(`${origin}/api/v1/health`);
    return await use(probe);
  } finally {
    await probe.close();
  }
}

/** What `withProbePage` needs of a Playwright page. */
export interface ProbePage {
  goto(url: string): Promise<unknown>;
  close(): Promise<void>;
  evaluate<R, A>(fn: (arg: A) => Promise<R>, arg: A): Promise<R>;
}
