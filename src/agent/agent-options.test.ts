import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeJoinString } from '../tls/join-string.js';
import { FerryError } from '../protocol/errors.js';
import { type RawAgentOptions, parseAgentOptions } from './agent-options.js';

const RAW: RawAgentOptions = {
  env: 'qa',
  roles: 'web',
  root: '/srv/ferry',
  driver: 'builtin',
  commandTimeout: '600',
};
const DEFAULTS = { path: '/usr/bin:/bin', name: 'web-1' };
const SERVER = { server: 'http://ferry:7400' };

let dir: string;
let savedToken: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-agent-options-'));
  savedToken = process.env.FERRY_TOKEN;
  delete process.env.FERRY_TOKEN;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  if (savedToken === undefined) delete process.env.FERRY_TOKEN;
  else process.env.FERRY_TOKEN = savedToken;
});

describe('the enrolment token of ferry agent', () => {
  it('is read from --token-file (trimmed), before --token and FERRY_TOKEN', () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, 'ferry_agent_from_file\n', { mode: 0o600 });
    process.env.FERRY_TOKEN = 'from-env';
    const warnings: string[] = [];
    const options = parseAgentOptions(
      { ...RAW, tokenFile: file },
      { ...SERVER, token: 'from-args' },
      DEFAULTS,
      (message) => warnings.push(message),
    );
    expect(options.token).toBe('ferry_agent_from_file');
    expect(warnings).toEqual([]);
  });

  it('comes from FERRY_TOKEN without a warning, and from --token with one', () => {
    process.env.FERRY_TOKEN = 'from-env';
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);
    expect(parseAgentOptions(RAW, SERVER, DEFAULTS, warn).token).toBe('from-env');
    expect(warnings).toEqual([]);
    expect(parseAgentOptions(RAW, { ...SERVER, token: 'from-args' }, DEFAULTS, warn).token).toBe(
      'from-args',
    );
    expect(warnings).toEqual([expect.stringContaining('--token-file')]);
  });

  it('refuses a token file that cannot be read or is empty', () => {
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '\n');
    for (const tokenFile of [path.join(dir, 'missing'), empty]) {
      expect(() => parseAgentOptions({ ...RAW, tokenFile }, SERVER, DEFAULTS)).toThrow(
        expect.objectContaining({
          code: 'E_CONFIG_INVALID',
          details: { problems: [expect.stringContaining(`--token-file ${tokenFile}`)] },
        }),
      );
    }
  });
});

describe('the join file of ferry agent', () => {
  const join = encodeJoinString({
    server: 'https://ferry:7400',
    token: 'ferry_agent_join-file-token',
    ca: `sha256:${'ab'.repeat(32)}`,
  });

  it("is read when it is this user's alone", () => {
    const file = path.join(dir, 'join');
    writeFileSync(file, `${join}\n`, { mode: 0o600 });
    const options = parseAgentOptions({ ...RAW, joinFile: file }, {}, DEFAULTS);
    expect(options.token).toBe('ferry_agent_join-file-token');
    expect(options.caFingerprint).toBe(`sha256:${'ab'.repeat(32)}`);
  });

  it.each([
    [0o644, 'may read it'],
    [0o640, 'may read it'],
    [0o604, 'may read it'],
    [0o660, 'may read or change it'],
    [0o622, 'may change it'],
  ])(
    'is refused at enrolment when others may read or write it (mode %o), naming the file and chmod 600',
    (mode, may) => {
      const file = path.join(dir, 'join');
      writeFileSync(file, `${join}\n`);
      chmodSync(file, mode);
      let refused: unknown;
      try {
        parseAgentOptions({ ...RAW, joinFile: file }, {}, DEFAULTS);
      } catch (err) {
        refused = err;
      }
      expect(refused).toBeInstanceOf(FerryError);
      const { code, message } = refused as FerryError;
      expect(code).toBe('E_CONFIG_INVALID');
      expect(message).toContain(
        `--join-file ${file}: other users of this host ${may} (mode 0${mode.toString(8)})`,
      );
      expect(message).toContain(`chmod 600 ${file}`);
      expect(message).toContain('defaultMode: 0400');
      expect(message).not.toContain('join-file-token');
    },
  );

  it('is only warned of, once, when open to others but the agent is enrolled already', () => {
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'agent'), { recursive: true });
    writeFileSync(path.join(root, 'agent', 'identity.json'), '{}', { mode: 0o600 });
    const file = path.join(dir, 'join');
    writeFileSync(file, `${join}\n`);
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    const options = parseAgentOptions({ ...RAW, root, joinFile: file }, {}, DEFAULTS, (m) =>
      warnings.push(m),
    );
    expect(options.server).toBe('https://ferry:7400');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `--join-file ${file}: other users of this host may read it (mode 0644)`,
    );
    expect(warnings[0]).toContain('enrolled already');
    expect(warnings[0]).toContain('defaultMode: 0400');
    expect(warnings[0]).not.toContain('join-file-token');
  });
});

describe('the transport URL of ferry agent', () => {
  it('warns of a password in --transport-url, and not of one from FERRY_TRANSPORT_URL', () => {
    const saved = process.env.FERRY_TRANSPORT_URL;
    try {
      const warnings: string[] = [];
      const warn = (message: string) => warnings.push(message);
      const withPassword = 'amqp://qa-web-1:s3cret@rabbit:5672';
      parseAgentOptions({ ...RAW, transportUrl: withPassword }, SERVER, DEFAULTS, warn);
      expect(warnings).toEqual([expect.stringContaining('FERRY_TRANSPORT_URL')]);
      // The warning names where to put it, never the password itself.
      expect(warnings[0]).not.toContain('s3cret');
      warnings.length = 0;
      parseAgentOptions({ ...RAW, transportUrl: 'amqp://rabbit:5672' }, SERVER, DEFAULTS, warn);
      process.env.FERRY_TRANSPORT_URL = withPassword;
      const options = parseAgentOptions(RAW, SERVER, DEFAULTS, warn);
      expect(options.transport).toMatchObject({ kind: 'rabbitmq', url: withPassword });
      expect(warnings).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.FERRY_TRANSPORT_URL;
      else process.env.FERRY_TRANSPORT_URL = saved;
    }
  });
});

describe('the broker CA of ferry agent', () => {
  it('takes --amqp-ca for an amqps:// URL, and refuses it for a plain one', () => {
    const options = parseAgentOptions(
      { ...RAW, transportUrl: 'amqps://rabbit:5671', amqpCa: 'certs/rabbit-ca.pem' },
      SERVER,
      DEFAULTS,
      () => undefined,
    );
    expect(options.transport).toMatchObject({
      kind: 'rabbitmq',
      caFile: path.resolve('certs/rabbit-ca.pem'),
    });
    expect(() =>
      parseAgentOptions(
        { ...RAW, transportUrl: 'amqp://rabbit:5672', amqpCa: 'ca.pem' },
        SERVER,
        DEFAULTS,
        () => undefined,
      ),
    ).toThrow(/--amqp-ca: the broker CA is for an amqps:\/\//);
  });
});
