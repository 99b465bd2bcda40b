import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InstallRecord } from '../protocol/api.js';
import type { ApiClient } from './api-client.js';
import { followInstall } from './follow-install.js';

const record = (state: InstallRecord['state']): InstallRecord => ({
  id: 'ins_1',
  host: 'qa-1',
  hostId: 'host_a',
  app: 'hello',
  version: 3,
  state,
  rolledBack: false,
  error: state === 'failed' ? 'health check failed' : null,
  deploymentId: null,
  purpose: 'install',
  fromVersion: 2,
  createdBy: 'admin',
  createdAt: 'T0',
  startedAt: null,
  finishedAt: null,
  steps: [],
});

let out: string[];
beforeEach(() => {
  out = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

describe('followInstall, the stream dropping before the install ends', () => {
  it('reads the install once after the stream is back: an end it missed meanwhile ends the wait', async () => {
    let now: InstallRecord = record('queued');
    // The fault: the connection drops after the install was made, the install
    // ends while it is away (its install.state event is never delivered), and
    // the stream is made again "from now".
    const api = {
      createInstall: () => Promise.resolve(now),
      install: () => Promise.resolve(now),
      hosts: () => Promise.resolve([]),
      async followEvents(
        _query: unknown,
        _after: unknown,
        _onEvent: unknown,
        more: { signal: AbortSignal; onOpen: () => void },
      ) {
        more.onOpen();
        await new Promise((resolve) => setTimeout(resolve, 20));
        now = record('failed');
        more.onOpen();
        // A live stream would wait on; here the wait is bounded so that a follower
        // that would wait forever fails the test instead of hanging it.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error('still waiting for an install that has ended')),
            2000,
          );
          more.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      },
    } as unknown as ApiClient;
    const code = await followInstall(api, { app: 'hello', version: 3, host: 'qa-1' }, {});
    expect(code).toBe(1);
    expect(out.join('')).toContain('failed: health check failed');
  });
});
