import type { PGlite } from '@electric-sql/pglite';

/**
 * A fix for @electric-sql/pglite-socket 0.2.17, installed on its server's query queue.
 *
 * All socket connections share one PGlite backend, and the server's queue interleaves the
 * connections message by message. It keeps a connection's messages together only inside an
 * explicit transaction, so the extended-protocol messages of one statement (Parse, Bind,
 * Describe, Execute ... Sync) from connection A could be interleaved with connection B's, and
 * B's Parse replaced A's unnamed statement ("unnamed prepared statement does not exist").
 * The stock queue also stops for good after one failed message (it returns without resetting
 * its busy flag).
 *
 * This queue keeps a connection's messages together from its first message until its Sync
 * (or a simple Query, or Terminate), and for as long as a transaction is open, and it always
 * recovers after an error.
 */
interface QueueItem {
  handlerId: number;
  message: Uint8Array;
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
  onData: (data: Uint8Array) => void;
}

interface QueryQueue {
  db: PGlite;
  queue: QueueItem[];
  processing: boolean;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** True when, after this message, the connection may be mid extended-protocol sequence. */
function opensSequence(message: Uint8Array): boolean {
  const type = message[0];
  // Startup, SSL and cancel requests begin with a length, whose first byte is 0 here.
  return !(
    type === undefined ||
    type === 0 ||
    type === SYNC ||
    type === QUERY ||
    type === TERMINATE
  );
}

export function installProtocolSafeQueue(server: unknown): void {
  const queue = (server as { queryQueue?: QueryQueue }).queryQueue;
  if (!queue || !Array.isArray(queue.queue) || typeof queue.processQueue !== 'function') {
    throw new Error('pglite-socket internals changed: cannot install the protocol-safe queue');
  }
  let stickyHandler: number | null = null;

  queue.processQueue = async function processQueue(this: QueryQueue): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const owner = stickyHandler ?? (this.db.isInTransaction() ? this.lastHandlerId : null);
        let item: QueueItem | undefined;
        if (owner !== null) {
          const index = this.queue.findIndex((q) => q.handlerId === owner);
          if (index === -1) break; // wait for the owner's next message
          item = this.queue.splice(index, 1)[0];
        } else {
          item = this.queue.shift();
        }
        if (!item) break;
        let bytes = 0;
        const current = item;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(current.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                current.onData(data);
              },
            }),
          );
          this.lastHandlerId = current.handlerId;
          stickyHandler = opensSequence(current.message) ? current.handlerId : null;
          current.resolve(bytes);
        } catch (error) {
          stickyHandler = null;
          current.reject(error);
        }
      }
    } finally {
      this.processing = false;
    }
  };

  const clearTransaction = queue.clearTransactionIfNeeded.bind(queue);
  queue.clearTransactionIfNeeded = async (handlerId: number): Promise<void> => {
    // A connection that went away must not keep the others waiting.
    if (stickyHandler === handlerId) stickyHandler = null;
    await clearTransaction(handlerId);
    await queue.processQueue();
  };
}
