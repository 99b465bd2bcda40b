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

  it('hides a password and the values of the query', () => {
    expect(redactWebhookUrl('https://bot:hunter2@h.example/x?token=abc&b=1#f')).toBe(
      'https://bot:***@h.example/x?token=***&b=***#f',
    );
    expect(redactWebhookUrl('https://h.example/services/T1')).toBe('https://h.example/services/T1');
  });
});
