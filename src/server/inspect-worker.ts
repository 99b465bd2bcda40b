/**
 * Worker thread entry of `InspectorPool`: checks pushed bundles with
 * `inspectBundle`, one at a time, while the main thread hashes and stores them.
 */
import { createHash, type Hash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { inspectBundle } from '../bundle/inspect-bundle.js';
import { FerryError } from '../protocol/errors.js';
import type { InspectorReply, InspectorRequest } from './inspector-pool.js';

const port = parentPort;
if (!port) throw new Error('inspect-worker runs only as a worker thread');

const reply = (message: InspectorReply) => port.postMessage(message);
let current: { id: number; input: PassThrough; hash: Hash; sha256?: string } | undefined;

port.on('message', (message: InspectorRequest) => {
  if (message.type === 'begin') {
    const { id } = message;
    const input = new PassThrough({ highWaterMark: 1024 * 1024 });
    // The archive's sha256 is taken here too, off the main thread, which has the
    // TLS and the file's writes to do: every byte comes here, in order.
    const inspecting = { id, input, hash: createHash('sha256') } as NonNullable<typeof current>;
    current = inspecting;
    inspectBundle(input, message.limits).then(
      (meta) => {
        // The check ends only once its input has: every chunk and the end were seen.
        const { sha256 } = inspecting;
        if (sha256 === undefined) {
          reply({
            type: 'failed',
            id,
            code: 'E_INTERNAL',
            message: 'The bundle check ended before the upload did',
          });
        } else reply({ type: 'done', id, meta, sha256 });
      },
      (err: unknown) => {
        const error =
          err instanceof FerryError
            ? err
            : new FerryError(
                'E_UPLOAD_INCOMPLETE',
                `The bundle check stopped: ${(err as Error).message}`,
              );
        reply({
          type: 'failed',
          id,
          code: error.code,
          message: error.message,
          details: error.details,
        });
      },
    );
    return;
  }
  const inspecting = current?.id === message.id ? current : undefined;
  const input = inspecting?.input;
  if (message.type === 'chunk') {
    const bytes = message.data.byteLength;
    const buffer = Buffer.from(message.data.buffer, message.data.byteOffset, bytes);
    inspecting?.hash.update(buffer);
    // Acknowledged even when the check has already failed, so the sender never waits forever.
    if (input && !input.destroyed)
      input.write(buffer, () => reply({ type: 'ack', id: message.id, bytes }));
    else reply({ type: 'ack', id: message.id, bytes });
  } else if (message.type === 'end') {
    if (inspecting) inspecting.sha256 = inspecting.hash.digest('hex');
    input?.end();
  } else {
    input?.destroy(new Error('the upload broke off'));
  }
});
