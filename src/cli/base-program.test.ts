import { describe, expect, it } from 'vitest';
import { commandNamed, isVersionOnly } from './base-program.js';

describe('commandNamed', () => {
  it('finds the command after the global options that take a value', () => {
    expect(commandNamed(['agent', '--root', '/srv'])).toBe('agent');
    expect(commandNamed(['--server', 'https://ferry:7400', 'agent', '--root', '/srv'])).toBe(
      'agent',
    );
    expect(commandNamed(['--token=t', '--server=https://f', 'server', '--data', 'd'])).toBe(
      'server',
    );
    // The value of --server is not the command, even when it reads like one.
    expect(commandNamed(['--server', 'agent', 'push', 'dir'])).toBe('push');
  });

  it('names none when another option comes first, so that the whole program decides', () => {
    expect(commandNamed(['--help', 'agent'])).toBeUndefined();
    expect(commandNamed(['-V'])).toBeUndefined();
    expect(commandNamed([])).toBeUndefined();
  });
});

describe('isVersionOnly', () => {
  it('is true for `ferry --version` and `ferry -V` alone', () => {
    expect(isVersionOnly(['--version'])).toBe(true);
    expect(isVersionOnly(['-V'])).toBe(true);
    expect(isVersionOnly(['--version', 'push'])).toBe(false);
    expect(isVersionOnly(['push', '--version'])).toBe(false);
    expect(isVersionOnly([])).toBe(false);
  });
});
