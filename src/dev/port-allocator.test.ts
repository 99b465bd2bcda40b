import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_PORT_RANGE,
  ephemeralRange,
  PortAllocator,
  releasePort,
  reservePort,
} from './port-allocator.js';

/** The built allocator, which a child process (plain Node) can import. */
const BUILT = fileURLToPath(new URL('../../dist/dev/port-allocator.js', import.meta.url));

/**
 * A child process with its own allocator over `dir` and `range`: it says
 * `ready`, waits for `go` on stdin, reserves ports until none is left, prints
 * them as JSON, and exits when its stdin closes.
 */
function allocatorProcess(dir: string, range: { from: number; to: number }): ChildProcess {
  const script = `
import { PortAllocator } from ${JSON.stringify(BUILT)};
const allocator = new PortAllocator({ dir: ${JSON.stringify(dir)}, range: ${JSON.stringify(range)} });
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  const ports = [];
  for (;;) {
    try { ports.push(await allocator.reserve()); } catch (err) {
      if (err.code !== 'E_LOCAL_CLUSTER') throw err;
      break;
    }
  }
  process.stdout.write(JSON.stringify(ports) + '\\n');
  process.stdin.once('end', () => process.exit(0));
});
`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Resolves with the next line a child prints. */
function nextLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end < 0) return;
      child.stdout!.off('data', onData);
      resolve(text.slice(0, end));
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`allocator process exited with ${code}`)));
  });
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve),
  );

/** The pid of a process that has just ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await exited(child);
  return child.pid!;
}

describe('PortAllocator', () => {
  let dir: string;
  /** A port reserved from the machine's shared allocator, so nothing else uses it meanwhile. */
  let port: number;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-port-test-'));
    port = await reservePort();
  });

  afterEach(async () => {
    releasePort(port);
    await rm(dir, { recursive: true, force: true });
  });

  it('hands two processes racing over one range ports that never overlap, and frees them at exit', async () => {
    const range = { from: 24100, to: 24139 };
    const children = [allocatorProcess(dir, range), allocatorProcess(dir, range)];
    try {
      expect(await Promise.all(children.map(nextLine))).toEqual(['ready', 'ready']);
      const lines = children.map(nextLine);
      for (const child of children) child.stdin!.write('go\n');
      const [first, second] = (await Promise.all(lines)).map((l) => JSON.parse(l) as number[]);
      const all = [...first!, ...second!];
      expect(new Set(all).size).toBe(all.length);
      // Between them they took the whole range but what something else had bound.
      expect(all.length).toBeGreaterThan(30);
      for (const p of all) expect(p >= range.from && p <= range.to).toBe(true);
      expect((await readdir(dir)).filter((f) => f.endsWith('.lock'))).toHaveLength(all.length);
    } finally {
      for (const child of children) child.stdin!.end();
      await Promise.all(children.map(exited));
    }
    expect(await readdir(dir)).toEqual([]);
  }, 30_000);

  it('never hands the same port to two allocators of one process', async () => {
    const range = { from: port, to: port };
    const first = new PortAllocator({ dir, range });
    const second = new PortAllocator({ dir, range });
    expect(await first.reserve()).toBe(port);
    await expect(second.reserve()).rejects.toMatchObject({ code: 'E_LOCAL_CLUSTER' });
    first.release(port);
    expect(await second.reserve()).toBe(port);
    second.release(port);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over the reservation of a process that has died, or whose pid another process now has', async () => {
    const range = { from: port, to: port };
    const lock = path.join(dir, `${port}.lock`);
    await writeFile(lock, `${await deadPid()} 12345\n`);
    const allocator = new PortAllocator({ dir, range });
    expect(await allocator.reserve()).toBe(port);
    expect(await readFile(lock, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    allocator.release(port);

    // Our own pid, but another start time: a process long gone whose pid came back.
    await writeFile(lock, `${process.pid} 1\n`);
    expect(await allocator.reserve()).toBe(port);
    allocator.release(port);
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over the reservations of a process killed with SIGKILL', async () => {
    const range = { from: port, to: port };
    const child = allocatorProcess(dir, range);
    try {
      await nextLine(child);
      const line = nextLine(child);
      child.stdin!.write('go\n');
      expect(JSON.parse(await line)).toEqual([port]);
      await expect(new PortAllocator({ dir, range }).reserve()).rejects.toMatchObject({
        code: 'E_LOCAL_CLUSTER',
      });
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
    expect(await readdir(dir)).toEqual([`${port}.lock`]);
    const allocator = new PortAllocator({ dir, range });
    expect(await allocator.reserve()).toBe(port);
    allocator.release(port);
  }, 30_000);

  it("leaves a live process's reservation alone", async () => {
    const range = { from: port, to: port };
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      await writeFile(path.join(dir, `${port}.lock`), `${sleeper.pid} -\n`);
      await expect(new PortAllocator({ dir, range }).reserve()).rejects.toMatchObject({
        code: 'E_LOCAL_CLUSTER',
        message: expect.stringContaining(dir),
      });
    } finally {
      sleeper.kill('SIGKILL');
      await exited(sleeper);
    }
  });

  it('skips a port something else listens on, and keeps no reservation of it', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await expect(
        new PortAllocator({ dir, range: { from: port, to: port } }).reserve(),
      ).rejects.toMatchObject({ code: 'E_LOCAL_CLUSTER' });
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never hands out a port of the ephemeral range, where outgoing connections take theirs', async () => {
    const allocator = new PortAllocator({
      dir,
      range: { from: port, to: port },
      ephemeral: { from: port, to: port },
    });
    await expect(allocator.reserve()).rejects.toMatchObject({ code: 'E_LOCAL_CLUSTER' });

    // The machine's own range, as the kernel says it, and the default range lies outside it.
    const [from, to] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(ephemeralRange()).toEqual({ from, to });
    const kernel = ephemeralRange();
    expect(port >= DEFAULT_PORT_RANGE.from && port <= DEFAULT_PORT_RANGE.to).toBe(true);
    expect(port >= kernel.from && port <= kernel.to).toBe(false);
  });
});
