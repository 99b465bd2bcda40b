/**
 * Worker thread entry of `InspectorPool`: checks pushed bundles with
 * `inspectBundle`, one at a time, while the main thread hashes and stores them.
 */
import { PassThrough } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { inspectBundle } from '../bundle/inspect-bundle.js';
import { FerryError } from '../protocol/errors.js';
import type { InspectorReply, InspectorRequest } from './inspector-pool.js';

const port = parentPort;
if (!port) throw new Error('inspect-worker runs only as a worker thread');

const reply = (message: InspectorReply) => port.postMessage(message);
let current: { id: number; input: PassThrough } | undefined;

port.on('message', (message: InspectorRequest) => {
  if (message.type === 'begin') {
    const { id } = message;
    const input = new PassThrough({ highWaterMark: 1024 * 1024 });
    current = { id, input };
    inspectBundle(input, message.limits).then(
      (meta) => reply({ type: 'done', id, meta }),
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
  const input = current?.id === message.id ? current.input : undefined;
  if (message.type === 'chunk') {
    const bytes = message.data.byteLength;
    const buffer = Buffer.from(message.data.buffer, message.data.byteOffset, bytes);
    // Acknowledged even when the check has already failed, so the sender never waits forever.
    if (input && !input.destroyed)
      input.write(buffer, () => reply({ type: 'ack', id: message.id, bytes }));
    else reply({ type: 'ack', id: message.id, bytes });
  } else if (message.type === 'end') {
    input?.end();
  } else {
    input?.destroy(new Error('the upload broke off'));
  }
});
