/**
 * Worker thread entry of `InspectorPool`: checks pushed bundles with
 * `startBundleCheck`, one at a time, and takes their sha256, while the main
 * thread receives (TLS) and stores them. The bytes arrive in the inspection's
 * shared slots and are read in place; a slot is acknowledged once hashed and
 * inflated, so the main thread may fill it again.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { startBundleCheck } from '../bundle/inspect-bundle.js';
import { FerryError } from '../protocol/errors.js';
import type { InspectorReply, InspectorRequest } from './inspector-pool.js';

const port = parentPort;
if (!port) throw new Error('inspect-worker runs only as a worker thread');

const reply = (message: InspectorReply) => port.postMessage(message);
let current:
  { id: number; input: Writable; hash: Hash; slots: Buffer[]; sha256?: string } | undefined;

port.on('message', (message: InspectorRequest) => {
  if (message.type === 'begin') {
    const { id } = message;
    const { input, checked } = startBundleCheck(message.limits);
    // The archive's sha256 is taken here too, off the main thread, which has the
    // TLS and the file's writes to do: every byte comes here, in order.
    const inspecting: NonNullable<typeof current> = {
      id,
      input,
      hash: createHash('sha256'),
      slots: message.slots.map((slot) => Buffer.from(slot)),
    };
    current = inspecting;
    // A finished check lets go of its slots (6 MiB), not only when the next one begins.
    const forget = () => {
      if (current === inspecting) current = undefined;
    };
    checked.then(
      (meta) => {
        forget();
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
        forget();
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
    const { id, slot, length } = message;
    const ack = () => reply({ type: 'ack', id, slot });
    const bytes = inspecting?.slots[slot]?.subarray(0, length);
    // Acknowledged even when the check has already failed, so the sender never waits forever.
    if (!inspecting || !bytes || !input || input.destroyed) {
      ack();
      return;
    }
    inspecting.hash.update(bytes);
    // The write's callback runs once zlib has taken all of the slot's bytes.
    input.write(bytes, ack);
  } else if (message.type === 'end') {
    if (inspecting) inspecting.sha256 = inspecting.hash.digest('hex');
    input?.end();
  } else {
    input?.destroy(new Error('the upload broke off'));
  }
});
