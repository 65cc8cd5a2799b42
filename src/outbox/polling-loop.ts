import type { Logger } from '@nestjs/common';
import { isDatabaseUnavailable } from '../common/database-errors.js';

/** While the database stays unreachable, repeat the warning every this many failed polls. */
const OUTAGE_LOG_EVERY = 60;

export interface PollingLoopOptions {
  /** Names the loop in logs, e.g. "outbox" or "callback". */
  name: string;
  logger: Logger;
  intervalMs: number;
  /** A batch that claimed this many jobs suggests more are due: poll again at once. */
  batchSize: number;
  /** Claims and processes one batch; resolves to how many jobs it claimed. */
  batch: () => Promise<number>;
}

/**
 * The poll loop of an outbox worker: a timer every `intervalMs` (at once again after a full
 * batch). Batches of one loop never overlap; `runOnce` queues behind the batch in flight, and
 * `stop` waits for it (before the database pool closes). A failing poll (e.g. the database is
 * unreachable) is logged at warn, and the next tick tries again.
 */
export class PollingLoop {
  private timer?: NodeJS.Timeout;
  private looping = false;
  private stopped = false;
  /** The current (or last) batch: runOnce calls queue behind it, stop waits for it. */
  private tail: Promise<unknown> = Promise.resolve();
  private consecutiveFailures = 0;

  constructor(private readonly opts: PollingLoopOptions) {}

  start(): void {
    if (this.stopped || this.looping) return;
    this.looping = true;
    this.schedule(this.opts.intervalMs);
  }

  /** Stops polling and waits for the batch in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.looping = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.tail;
  }

  /**
   * Runs one batch, never alongside another batch of this loop; resolves to how many jobs it
   * claimed. Rejects only when the claim itself fails.
   */
  runOnce(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    const run = this.tail.then(() => (this.stopped ? 0 : this.opts.batch()));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private schedule(delayMs: number): void {
    if (!this.looping) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    // The HTTP server keeps the process alive; the poller alone should not.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    let handled = 0;
    try {
      handled = await this.runOnce();
      if (this.consecutiveFailures > 0) {
        this.opts.logger.log(
          `${this.opts.name} polling recovered after ${this.consecutiveFailures} failed polls`,
        );
      }
      this.consecutiveFailures = 0;
    } catch (e) {
      this.consecutiveFailures++;
      if (this.consecutiveFailures === 1 || this.consecutiveFailures % OUTAGE_LOG_EVERY === 0) {
        const what = isDatabaseUnavailable(e) ? 'database unavailable' : 'unexpected error';
        this.opts.logger.warn(
          `${this.opts.name} poll failed (${what}, ${this.consecutiveFailures} in a row): ${describeError(e)}; retrying every ${this.opts.intervalMs} ms`,
        );
      }
    }
    this.schedule(handled >= this.opts.batchSize ? 0 : this.opts.intervalMs);
  }
}

/** An error named by its kind and message only (database errors carry no identities). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`.slice(0, 300);
  return String(e).slice(0, 300);
}
