import { afterEach, describe, expect, it } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import { PollingLoop, PollingTask } from './polling-loop.js';

/** A promise settled from outside. */
function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks and zero-delay timers run. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

function fakeLogger(): Logger & { warns: string[]; logs: string[] } {
  const warns: string[] = [];
  const logs: string[] = [];
  return {
    warns,
    logs,
    warn: (m: string) => void warns.push(m),
    log: (m: string) => void logs.push(m),
    error: () => undefined,
    debug: () => undefined,
  } as unknown as Logger & { warns: string[]; logs: string[] };
}

/**
 * A fake queue of `total` jobs: each claim hands out up to `limit` of them, each job runs until
 * the test finishes it. Records the claims' limits, the jobs in flight and the overlap of claims.
 */
class FakeQueue {
  remaining: number;
  readonly limits: number[] = [];
  readonly pending: { id: number; done: () => void }[] = [];
  running = 0;
  maxRunning = 0;
  claiming = 0;
  maxClaiming = 0;
  finished = 0;
  private next = 0;
  private waiters: { wake: () => void }[] = [];
  /** When set, every claim waits for it. */
  gate?: Promise<void>;
  /** When set, the next claim rejects with it. */
  failNext?: Error;

  constructor(total: number) {
    this.remaining = total;
  }

  claim = async (limit: number): Promise<PollingTask[]> => {
    this.limits.push(limit);
    this.claiming++;
    this.maxClaiming = Math.max(this.maxClaiming, this.claiming);
    try {
      await this.gate;
      await Promise.resolve();
      if (this.failNext) {
        const e = this.failNext;
        this.failNext = undefined;
        throw e;
      }
      const n = Math.min(limit, this.remaining);
      this.remaining -= n;
      const tasks: PollingTask[] = [];
      for (let i = 0; i < n; i++) {
        const id = this.next++;
        tasks.push(async () => {
          const d = deferred();
          this.running++;
          this.maxRunning = Math.max(this.maxRunning, this.running);
          this.pending.push({ id, done: () => d.resolve() });
          this.wake();
          await d.promise;
          this.running--;
          this.finished++;
        });
      }
      return tasks;
    } finally {
      this.claiming--;
      this.wake();
    }
  };

  /** Resolves once `n` claims were made. */
  claims(n: number): Promise<void> {
    return this.until(() => this.limits.length >= n && this.claiming === 0);
  }

  /** Resolves once `n` jobs are running. */
  runningAtLeast(n: number): Promise<void> {
    return this.until(() => this.pending.length >= n);
  }

  /** Finishes the oldest running job (or the one with `id`). */
  finish(id?: number): void {
    const i = id === undefined ? 0 : this.pending.findIndex((p) => p.id === id);
    const [p] = this.pending.splice(i, 1);
    p!.done();
  }

  private until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ wake: () => cond() && wake() }));
  }

  private wake(): void {
    for (const w of this.waiters) w.wake();
  }
}

describe('PollingLoop', () => {
  let loop: PollingLoop | undefined;
  let current: FakeQueue | undefined;

  afterEach(async () => {
    if (!loop) return;
    // Finish whatever the test left running, so that stop can return.
    let done = false;
    const stopping = loop.stop().then(() => (done = true));
    while (!done) {
      while (current!.pending.length > 0) current!.finish();
      await settle(1);
    }
    await stopping;
    loop = undefined;
  });

  function newLoop(queue: FakeQueue, slots: number, intervalMs: number, logger = fakeLogger()) {
    current = queue;
    loop = new PollingLoop({ name: 'test', logger, intervalMs, slots, claim: queue.claim });
    return loop;
  }

  it('never has more jobs in flight than slots, and claims only into free slots', async () => {
    const queue = new FakeQueue(25);
    const l = newLoop(queue, 3, 5);
    l.start();
    for (let i = 0; i < 25; i++) {
      await queue.runningAtLeast(1);
      // Finish jobs out of order: the newest one first, every other time.
      queue.finish(i % 2 ? queue.pending[queue.pending.length - 1]!.id : undefined);
      await settle(1);
      expect(l.running).toBeLessThanOrEqual(3);
    }
    expect(queue.maxRunning).toBeLessThanOrEqual(3);
    expect(queue.maxRunning).toBe(3);
    expect(queue.maxClaiming).toBe(1);
    expect(Math.max(...queue.limits)).toBeLessThanOrEqual(3);
    expect(queue.limits.every((n) => n >= 1)).toBe(true);
  });

  it('a slot freed after a full claim is claimed again at once, the others still running', async () => {
    const queue = new FakeQueue(10);
    // Far beyond the test's duration: any claim after the first is triggered by a freed slot.
    const l = newLoop(queue, 3, 600_000);
    l.start();
    void l.runOnce();
    await queue.runningAtLeast(3);
    expect(queue.limits).toEqual([3]);

    queue.finish(1); // the middle one; jobs 0 and 2 hang on
    await queue.runningAtLeast(3);
    expect(queue.limits).toEqual([3, 1]);
    expect(queue.pending.map((p) => p.id)).toEqual([0, 2, 3]);
  });

  it('after a claim that was not full, a freed slot waits for the poll interval', async () => {
    const queue = new FakeQueue(1);
    const l = newLoop(queue, 3, 600_000);
    l.start();
    void l.runOnce();
    await queue.runningAtLeast(1);
    queue.remaining = 5; // more become due, but the last claim said "that was all"
    queue.finish();
    await settle(10);
    expect(queue.limits).toEqual([3]);
    expect(l.running).toBe(0);
  });

  it('claims never overlap, even when slots free up during a claim', async () => {
    const queue = new FakeQueue(1000);
    const l = newLoop(queue, 4, 1);
    l.start();
    for (let i = 0; i < 30; i++) {
      await queue.runningAtLeast(1);
      const gate = deferred();
      queue.gate = gate.promise;
      while (queue.pending.length > 0) queue.finish();
      await settle(2);
      gate.resolve();
      queue.gate = undefined;
      await settle(2);
    }
    expect(queue.maxClaiming).toBe(1);
    expect(queue.maxRunning).toBeLessThanOrEqual(4);
  });

  it('runOnce claims what fits and resolves when those jobs are done', async () => {
    const queue = new FakeQueue(5);
    const l = newLoop(queue, 2, 600_000);
    let result: number | undefined;
    const run = l.runOnce().then((n) => (result = n));
    await queue.runningAtLeast(2);
    expect(queue.limits).toEqual([2]);
    queue.finish();
    await settle();
    expect(result).toBeUndefined();

    // All slots busy: a second runOnce waits for a free one, then claims only into it.
    let second: number | undefined;
    const run2 = l.runOnce().then((n) => (second = n));
    await settle();
    expect(queue.limits).toEqual([2, 1]); // one slot was free already
    queue.finish();
    await run;
    expect(result).toBe(2);
    queue.finish();
    await run2;
    expect(second).toBe(1);
  });

  it('runOnce with every slot busy waits for a slot to free', async () => {
    const queue = new FakeQueue(5);
    const l = newLoop(queue, 1, 600_000);
    void l.runOnce();
    await queue.runningAtLeast(1);
    let second: number | undefined;
    const run2 = l.runOnce().then((n) => (second = n));
    await settle();
    expect(queue.limits).toEqual([1]);
    queue.finish();
    await queue.runningAtLeast(1);
    expect(queue.limits).toEqual([1, 1]);
    queue.finish();
    await run2;
    expect(second).toBe(1);
  });

  it('stop waits for every job in flight, and claims nothing afterwards', async () => {
    const queue = new FakeQueue(10);
    const l = newLoop(queue, 3, 600_000);
    l.start();
    void l.runOnce();
    await queue.runningAtLeast(3);
    let stopped = false;
    const stopping = l.stop().then(() => (stopped = true));
    queue.finish();
    queue.finish();
    await settle();
    expect(stopped).toBe(false);
    expect(queue.limits).toEqual([3]);
    queue.finish();
    await stopping;
    expect(stopped).toBe(true);
    expect(queue.finished).toBe(3);
    expect(await l.runOnce()).toBe(0);
    expect(queue.limits).toEqual([3]);
  });

  it('stop waits for a claim in flight and for the jobs it started', async () => {
    const queue = new FakeQueue(10);
    const l = newLoop(queue, 2, 600_000);
    const gate = deferred();
    queue.gate = gate.promise;
    const run = l.runOnce();
    await settle();
    let stopped = false;
    const stopping = l.stop().then(() => (stopped = true));
    gate.resolve();
    await queue.runningAtLeast(2);
    expect(stopped).toBe(false);
    queue.finish();
    queue.finish();
    await stopping;
    expect(await run).toBe(2);
  });

  it('a failing poll is logged once, retried on the timer, and its recovery logged', async () => {
    const queue = new FakeQueue(1);
    const logger = fakeLogger();
    const l = newLoop(queue, 2, 5, logger);
    queue.failNext = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    l.start();
    await queue.runningAtLeast(1);
    expect(logger.warns).toHaveLength(1);
    expect(logger.warns[0]).toContain('test poll failed (database unavailable, 1 in a row)');
    await queue.claims(3);
    expect(logger.logs).toEqual(['test polling recovered after 1 failed polls']);
    queue.finish();
  });

  it('runOnce rejects when the claim fails, and the loop goes on', async () => {
    const queue = new FakeQueue(1);
    const l = newLoop(queue, 2, 600_000);
    queue.failNext = new Error('boom');
    await expect(l.runOnce()).rejects.toThrow('boom');
    const run = l.runOnce();
    await queue.runningAtLeast(1);
    queue.finish();
    expect(await run).toBe(1);
  });

  it('needs at least one slot', () => {
    expect(
      () =>
        new PollingLoop({
          name: 'x',
          logger: fakeLogger(),
          intervalMs: 10,
          slots: 0,
          claim: async () => [],
        }),
    ).toThrow(/at least one slot/);
  });
});
