import { readFile, readdir, readlink } from 'node:fs/promises';

/**
 * Which processes hold a TCP port open for listening, read from Linux's /proc:
 * the sockets in LISTEN state on the port (`/proc/net/tcp`, `/proc/net/tcp6`),
 * then the processes with one of them among their file descriptors. The health
 * step asks it who answered its check. Processes whose descriptors cannot be
 * read (another user's, for an agent that is not root) are not found.
 */

/** The inodes of the sockets listening on `port`, any address; null where /proc/net cannot be read. */
export async function listeningSockets(port: number): Promise<Set<string> | null> {
  const inodes = new Set<string>();
  let read = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue; // No IPv6, or not Linux.
    }
    read = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (local === undefined || inode === undefined || fields[3] !== '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(inode);
    }
  }
  return read ? inodes : null;
}

/** True when process `pid` has one of the sockets `inodes` open. */
export async function holdsSocket(pid: number, inodes: Set<string>): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false; // Gone, or another user's.
  }
  const targets = await Promise.all(
    fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
  );
  return targets.some((target) => {
    const match = /^socket:\[(\d+)\]$/.exec(target);
    return match?.[1] !== undefined && inodes.has(match[1]);
  });
}

/** Every process (that this one may look into) holding one of the sockets `inodes`. */
export async function socketHolders(inodes: Set<string>): Promise<number[]> {
  const holders: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return holders;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (await holdsSocket(pid, inodes)) holders.push(pid);
  }
  return holders;
}
