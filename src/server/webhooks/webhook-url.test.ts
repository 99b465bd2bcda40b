import { describe, expect, it } from 'vitest';
import { FerryError } from '../../protocol/errors.js';
import { checkWebhookUrl, redactWebhookUrl } from './webhook-url.js';

describe('webhook URLs', () => {
  it('takes http and https, and refuses anything else with E_WEBHOOK_URL', () => {
    expect(checkWebhookUrl('https://hooks.example.com/ferry')).toBe(
      'https://hooks.example.com/ferry',
    );
    expect(checkWebhookUrl('http://127.0.0.1:9000/x')).toBe('http://127.0.0.1:9000/x');
    for (const bad of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'hooks.example.com',
      'javascript:alert(1)',
    ]) {
      expect(() => checkWebhookUrl(bad)).toThrow(FerryError);
      try {
        checkWebhookUrl(bad);
      } catch (err) {
        expect((err as FerryError).code).toBe('E_WEBHOOK_URL');
      }
    }
  });

  it('shows scheme, host and port, and only a hash of the rest (a token in a path, query or password)', () => {
    const slack = 'https://hooks.slack.com/services/T0AAA/B0BBB/xoxSecretPathToken';
    const shown = redactWebhookUrl(slack);
    expect(shown).toMatch(/^https:\/\/hooks\.slack\.com\/…#[0-9a-f]{6}$/);
    expect(shown).not.toContain('services');
    expect(shown).not.toContain('xoxSecretPathToken');
    // The same URL, the same hash; another path on the host, another one.
    expect(redactWebhookUrl(slack)).toBe(shown);
    expect(redactWebhookUrl('https://hooks.slack.com/services/T0AAA/B0BBB/other')).not.toBe(shown);
    const withPassword = redactWebhookUrl('http://bot:hunter2@h.example:8080/x?token=abc#f');
    expect(withPassword).toMatch(/^http:\/\/h\.example:8080\/…#[0-9a-f]{6}$/);
    for (const hidden of ['bot', 'hunter2', 'token', 'abc', '/x'])
      expect(withPassword).not.toContain(hidden);
    expect(redactWebhookUrl('https://h.example')).toBe('https://h.example/');
    expect(redactWebhookUrl('not a url')).toBe('***');
  });
});
