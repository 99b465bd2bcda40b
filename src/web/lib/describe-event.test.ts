import { describe, expect, it } from 'vitest';
import type { FerryEvent } from '../../protocol/events.js';
import { describeEvent } from './describe-event.js';

const base = {
  id: '1',
  at: '2025-01-01T00:00:00Z',
  app: 'cart',
  env: 'qa',
  deploymentId: null,
  hostId: null,
};

describe('describeEvent', () => {
  it('says what happened, with the state for its badge', () => {
    const verdict: FerryEvent = {
      ...base,
      env: null,
      kind: 'verdict.changed',
      data: {
        version: 13,
        verdict: 'passed',
        previous: 'pending',
        by: 'qa-anna',
        note: 'looks good',
      },
    };
    expect(describeEvent(verdict)).toEqual({
      text: 'cart@13 marked by qa-anna: “looks good”',
      state: 'passed',
    });
    const away: FerryEvent = {
      ...base,
      app: null,
      kind: 'host.disconnected',
      data: { host: 'qa-2' },
    };
    expect(describeEvent(away)).toEqual({ text: 'host qa-2 in qa went away', state: 'away' });
  });

  it('keeps hostile text as it is (it is shown as text, never HTML)', () => {
    const pushed: FerryEvent = {
      ...base,
      kind: 'bundle.pushed',
      data: { version: 2, sha256: 'ab', label: '<script>alert(1)</script>', by: 'dev' },
    };
    expect(describeEvent(pushed).text).toBe(
      'cart@2 pushed by dev (label <script>alert(1)</script>)',
    );
  });
});
