import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountSmallDisk } from '../../../test/helpers/small-disk.js';
import { BundleFetcher } from './bundle-fetcher.js';

const body = randomBytes(200_000);
const sha256 = createHash('sha256').update(body).digest('hex');
const ranges: (string | undefined)[] = [];
let server: http.Server;
let url: string;

beforeAll(async () => {
  // Serves one bundle the way the Ferry server does: whole, or from a byte on.
  server = http.createServer((request, response) => {
    ranges.push(request.headers.range);
    if (request.headers.authorization !== 'Bearer t') return response.writeHead(401).end();
    const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (match) {
      const start = Number(match[1]);
      response.writeHead(206, {
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      return response.end(body.subarray(start));
    }
    response.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const bundle = { app: 'cart', version: 3, sha256, size: body.length };
const quiet = () => undefined;

describe('BundleFetcher', () => {
  it('downloads, verifies, and then serves from its cache', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const fetcher = new BundleFetcher(cache, url, 't');
    ranges.length = 0;
    const fetched = await fetcher.fetch(bundle, quiet);
    expect(fetched.sha256).toBe(sha256);
    await fetcher.verify(fetched, sha256, quiet);
    expect(await readFile(fetched.file)).toEqual(body);
    const lines: string[] = [];
    const cached = await fetcher.fetch(bundle, (line) => lines.push(line));
    expect(lines.join('')).toContain('cached');
    expect(cached).toEqual({ file: fetched.file, sha256 });
    expect(ranges).toEqual([undefined]);
  });

  it('hashes a cached file when it takes it, so a changed one is refused', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const fetcher = new BundleFetcher(cache, url, 't');
    const { file } = await fetcher.fetch(bundle, quiet);
    await writeFile(file, 'rotted on disk');
    ranges.length = 0;
    const cached = await fetcher.fetch(bundle, quiet);
    expect(ranges).toEqual([]);
    expect(cached.sha256).toBe(createHash('sha256').update('rotted on disk').digest('hex'));
    await expect(fetcher.verify(cached, sha256, quiet)).rejects.toThrow(/is not the expected/);
    await expect(readFile(file)).rejects.toThrow();
  });

  it('checks the digest made while downloading, without reading the file again', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const fetcher = new BundleFetcher(cache, url, 't');
    const fetched = await fetcher.fetch(bundle, quiet);
    // The file is the bundle; the digest handed over is what is compared.
    await expect(
      fetcher.verify({ ...fetched, sha256: 'a'.repeat(64) }, sha256, quiet),
    ).rejects.toThrow(`sha256 ${'a'.repeat(64)} is not the expected ${sha256}`);
  });

  it('resumes a broken download where it stopped', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    await writeFile(path.join(cache, `${sha256}.tar.gz.partial`), body.subarray(0, 70_000));
    ranges.length = 0;
    const fetcher = new BundleFetcher(cache, url, 't');
    const fetched = await fetcher.fetch(bundle, quiet);
    expect(ranges).toEqual(['bytes=70000-']);
    // The digest covers the bytes that were already there, hashed before the rest.
    expect(fetched.sha256).toBe(sha256);
    await fetcher.verify(fetched, sha256, quiet);
    expect(await readFile(fetched.file)).toEqual(body);
  });

  it('refuses a resumed download whose earlier bytes were not the bundle', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const wrong = Buffer.from(body.subarray(0, 70_000));
    wrong.writeUInt8(wrong.readUInt8(123) ^ 0xff, 123);
    await writeFile(path.join(cache, `${sha256}.tar.gz.partial`), wrong);
    const fetcher = new BundleFetcher(cache, url, 't');
    const fetched = await fetcher.fetch(bundle, quiet);
    expect(fetched.sha256).not.toBe(sha256);
    await expect(fetcher.verify(fetched, sha256, quiet)).rejects.toThrow(/is not the expected/);
    await expect(readFile(fetched.file)).rejects.toThrow();
  });

  it('throws away a cached file whose sha256 does not match', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const file = path.join(cache, `${sha256}.tar.gz`);
    await writeFile(file, 'not the bundle');
    const fetcher = new BundleFetcher(cache, url, 't');
    const fetched = await fetcher.fetch(bundle, quiet);
    await expect(fetcher.verify(fetched, sha256, quiet)).rejects.toThrow(/is not the expected/);
    await expect(readFile(file)).rejects.toThrow();
  });

  it('names a refused download', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
    const fetcher = new BundleFetcher(cache, url, 'wrong');
    await expect(fetcher.fetch(bundle, quiet)).rejects.toThrow(/HTTP 401/);
  });

  describe('through a server restart', () => {
    it('waits for a server that goes away mid-download and resumes where it broke off', async () => {
      const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
      const seen: (string | undefined)[] = [];
      // The first answer sends 50,000 bytes, then the server dies: connections
      // cut, port closed. It comes back on the same port a second later. It dies
      // only once the agent has those bytes in its partial file: cut any sooner,
      // bytes still in flight are lost, and the agent rightly resumes from fewer.
      const partial = path.join(cache, `${sha256}.tar.gz.partial`);
      const received = async () => (await stat(partial).catch(() => undefined))?.size ?? 0;
      let first = true;
      const restarting = http.createServer((request, response) => {
        seen.push(request.headers.range);
        if (first) {
          first = false;
          response.writeHead(200, { 'content-length': String(body.length) });
          response.write(body.subarray(0, 50_000));
          const die = async () => {
            while ((await received()) < 50_000) await new Promise((r) => setTimeout(r, 10));
            restarting.close();
            restarting.closeAllConnections();
            setTimeout(() => restarting.listen(port, '127.0.0.1'), 1000);
          };
          void die();
          return;
        }
        const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
        response.writeHead(start > 0 ? 206 : 200).end(body.subarray(start));
      });
      await new Promise<void>((resolve) => restarting.listen(0, '127.0.0.1', resolve));
      const port = (restarting.address() as { port: number }).port;
      try {
        const lines: string[] = [];
        const fetcher = new BundleFetcher(cache, `http://127.0.0.1:${port}`, 't');
        const fetched = await fetcher.fetch(bundle, (line) => lines.push(line));
        expect(fetched.sha256).toBe(sha256);
        await fetcher.verify(fetched, sha256, quiet);
        expect(await readFile(fetched.file)).toEqual(body);
        expect(seen[0]).toBeUndefined();
        expect(seen.at(-1)).toBe('bytes=50000-');
        expect(lines.join('')).toMatch(/trying again in/);
      } finally {
        await new Promise((resolve) => restarting.close(resolve));
      }
    });

    it('gives up on a server that does not come back, within its bound', async () => {
      const cache = await mkdtemp(path.join(os.tmpdir(), 'ferry-cache-'));
      const gone = http.createServer();
      await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
      const port = (gone.address() as { port: number }).port;
      await new Promise((resolve) => gone.close(resolve));
      const fetcher = new BundleFetcher(cache, `http://127.0.0.1:${port}`, 't', {
        budgetMs: 1500,
        firstDelayMs: 100,
        maxDelayMs: 400,
      });
      const started = Date.now();
      await expect(fetcher.fetch(bundle, quiet)).rejects.toThrow(
        /cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*tried \d+ times/,
      );
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });

  describe('on a full disk (a real 64 KB tmpfs)', () => {
    it('removes the partial download that filled the disk and says how much is free', async () => {
      const disk = await mountSmallDisk(0.0625);
      if (!disk) throw new Error('this test needs to mount a tmpfs (run as root)');
      try {
        // The size the server declared fits; the bytes that come do not.
        const fetcher = new BundleFetcher(disk.dir, url, 't');
        const failure = fetcher.fetch({ ...bundle, size: 10_000 }, quiet);
        await expect(failure).rejects.toThrow(/The disk is full: .*ran out of space/);
        await expect(failure).rejects.toThrow(new RegExp(`${disk.dir}.*free now`));
        expect(await readdir(disk.dir)).toEqual([]);
      } finally {
        await disk.unmount();
      }
    });

    it('refuses a bundle larger than the free space before downloading it', async () => {
      const disk = await mountSmallDisk(0.0625);
      if (!disk) throw new Error('this test needs to mount a tmpfs (run as root)');
      try {
        await writeFile(path.join(disk.dir, `${sha256}.tar.gz.partial`), body.subarray(0, 20_000));
        ranges.length = 0;
        const fetcher = new BundleFetcher(disk.dir, url, 't');
        await expect(fetcher.fetch(bundle, quiet)).rejects.toThrow(
          new RegExp(`Not enough disk space for cart@3 \\(0.2 MB\\): .* free on ${disk.dir}`),
        );
        expect(ranges).toEqual([]);
        expect(await readdir(disk.dir)).toEqual([]);
      } finally {
        await disk.unmount();
      }
    });
  });
});
