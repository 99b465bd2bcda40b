import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { FerryError } from '../../protocol/errors.js';
import type { Frame } from './frames.js';

/**
 * What the server does to one agent's socket: send it a frame, hang up on it,
 * or refuse its upgrade.
 */

/** Sends a frame on an open connection; one closing or closed gets nothing more. */
export function sendFrame(ws: WebSocket, frame: Frame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

/**
 * Says goodbye to an agent and hangs up: an agent that does not answer the close
 * at once (busy, or gone without a word) is cut off, since an open upgraded
 * socket keeps the HTTP server, and so the process, from stopping.
 */
export function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    hangUp(socket, 1001, 'server stopping');
  });
}

/**
 * Closes a connection, and cuts it off if the agent has not answered the
 * close within a second. One not read (its frames wait for their turn) is
 * read again, or the agent's answering close would wait unread for ws's 30 s;
 * the frames that come meanwhile are not handled (see
 * `BuiltinServerTransport.connected`).
 */
export function hangUp(socket: WebSocket, code: number, reason: string): void {
  if (socket.isPaused) socket.resume();
  const cutOff = setTimeout(() => socket.terminate(), 1000);
  socket.once('close', () => clearTimeout(cutOff));
  socket.close(code, reason);
}

/**
 * Answers a refused upgrade with the error as JSON, then hangs up; `headers`
 * are the server's own (`refusalHeaders`).
 */
export function refuseUpgrade(
  socket: Duplex,
  error: FerryError,
  headers: Readonly<Record<string, string>>,
): void {
  const body = JSON.stringify(error.toBody());
  const headerLines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Refused'}\r\n` +
      `Content-Type: application/json\r\nConnection: close\r\n${headerLines}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
