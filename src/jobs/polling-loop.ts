import type { Logger } from '@nestjs/common';
import { isDatabaseUnavailable } from '../common/database-errors.js';

/** While the database stays unreachable, repeat the warning every this many failed polls. */
const OUTAGE_LOG_EVERY = 60;

/** One claimed job's work, to its recorded outcome. Should never reject. */
export type PollingTask = () => Promise<unknown>;

export interface PollingLoopOptions {
  /** Names the loop in logs, e.g. "reply" or "callback". */
  name: string;
  logger: Logger;
  intervalMs: number;
  /** At most this many jobs in flight at once (the slots). */
  slots: number;
  /**
   * Claims up to `limit` due jobs (never more than the free slots); resolves to one task per
   * claimed job, which the loop starts at once. Rejects when the claim fails.
   */
  claim: (limit: number) => Promise<PollingTask[]>;
}

/**
 * The poll loop of a job handler (see JobRunner): a bounded pipeline of at most `slots` jobs in flight. A
 * claim asks only for as many jobs as there are free slots, and each claimed job runs on its own:
 * a slow job holds its slot, never the others. When a job ends, its slot is claimed again at once
 * if the previous claim was full (more are probably due) or the poll interval has passed since
 * it; otherwise the next poll is on the timer (every `intervalMs`). Claims of one loop never
 * overlap; `runOnce` queues behind the claim in flight, and `stop` waits for it and for every job
 * in flight (before the database pool closes). A failing poll (e.g. the database is unreachable)
 * is logged at warn, and the next tick tries again.
 */
export class PollingLoop {
  private timer?: NodeJS.Timeout;
  private looping = false;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** The current (or last) claim: claims queue behind it, stop waits for it. */
  private claimTail: Promise<unknown> = Promise.resolve();
  /** Claims queued or running. */
  private claims = 0;
  private lastClaimAt = Number.NEGATIVE_INFINITY;
  private lastClaimFull = false;
  private consecutiveFailures = 0;

  constructor(private readonly opts: PollingLoopOptions) {
    if (!Number.isInteger(opts.slots) || opts.slots < 1) {
      throw new Error(`${opts.name} polling loop needs at least one slot`);
    }
  }

  /** Jobs in flight now. */
  get running(): number {
    return this.inFlight.size;
  }

  private get free(): number {
    return this.opts.slots - this.inFlight.size;
  }

  start(): void {
    if (this.stopped || this.looping) return;
    this.looping = true;
    this.schedule(this.opts.intervalMs);
  }

  /** Stops polling and waits for the claim and every job in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.looping = false;
    this.clearTimer();
    while (this.claims > 0 || this.inFlight.size > 0) {
      await this.claimTail;
      await Promise.all(this.inFlight);
    }
  }

  /**
   * One claim into the free slots (waiting for a slot when none is free), never alongside
   * another claim of this loop; resolves to how many jobs it claimed once those jobs are done.
   * Rejects only when the claim itself fails.
   */
  async runOnce(): Promise<number> {
    if (this.stopped) return 0;
    const started = await this.exclusive(async () => {
      while (!this.stopped && this.free <= 0) await Promise.race(this.inFlight);
      return this.claimIntoFreeSlots();
    });
    await Promise.all(started);
    return started.length;
  }

  /** Runs `fn` after the claims queued before it. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.claims++;
    const run = this.claimTail.then(fn).finally(() => {
      this.claims--;
    });
    this.claimTail = run.catch(() => undefined);
    return run;
  }

  /** Claims up to the free slots and starts the claimed jobs; resolves to their promises. */
  private async claimIntoFreeSlots(): Promise<Promise<void>[]> {
    const limit = this.free;
    if (this.stopped || limit <= 0) return [];
    this.lastClaimAt = Date.now();
    this.lastClaimFull = false;
    try {
      const tasks = await this.opts.claim(limit);
      this.lastClaimFull = tasks.length >= limit;
      return tasks.map((task) => this.startJob(task));
    } finally {
      this.afterClaim();
    }
  }

  private startJob(task: PollingTask): Promise<void> {
    const job: Promise<void> = (async () => {
      try {
        await task();
      } catch (e) {
        this.opts.logger.warn(`${this.opts.name} job failed unexpectedly: ${describeError(e)}`);
      }
    })().finally(() => {
      this.inFlight.delete(job);
      this.slotFreed();
    });
    this.inFlight.add(job);
    return job;
  }

  /** After a claim: at once again if it was full and a slot is free, else on the timer. */
  private afterClaim(): void {
    this.schedule(this.lastClaimFull && this.free > 0 ? 0 : this.opts.intervalMs);
  }

  private slotFreed(): void {
    if (!this.looping || this.claims > 0) return;
    if (this.lastClaimFull || Date.now() - this.lastClaimAt >= this.opts.intervalMs) this.poll();
  }

  /** A claim of the timer loop (failures logged here, not thrown). */
  private poll(): void {
    this.clearTimer();
    // A claim in flight reschedules when it ends; with no free slot, the next freed one polls.
    if (!this.looping || this.claims > 0 || this.free <= 0) return;
    this.exclusive(() => this.claimIntoFreeSlots()).then(
      () => {
        if (this.consecutiveFailures > 0) {
          this.opts.logger.log(
            `${this.opts.name} polling recovered after ${this.consecutiveFailures} failed polls`,
          );
        }
        this.consecutiveFailures = 0;
      },
      (e: unknown) => {
        this.consecutiveFailures++;
        if (this.consecutiveFailures === 1 || this.consecutiveFailures % OUTAGE_LOG_EVERY === 0) {
          const what = isDatabaseUnavailable(e) ? 'database unavailable' : 'unexpected error';
          this.opts.logger.warn(
            `${this.opts.name} poll failed (${what}, ${this.consecutiveFailures} in a row): ${describeError(e)}; retrying every ${this.opts.intervalMs} ms`,
          );
        }
      },
    );
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    if (!this.looping) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.poll();
    }, delayMs);
    // The HTTP server keeps the process alive; the poller alone should not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** An error named by its kind and message only (database errors carry no identities). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`.slice(0, 300);
  return String(e).slice(0, 300);
}
