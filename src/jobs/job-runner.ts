import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ClaimedJob, ClaimSpec, JobQueueRepository } from './job-queue.repository.js';
import { PollingLoop, PollingTask } from './polling-loop.js';

/** A kind of job and the code that does it, registered with the JobRunner. */
export interface JobHandler {
  /** Names the handler's loop in logs, e.g. "reply" or "callback". */
  readonly name: string;
  /** Which jobs it claims, with which lease, and its final-outcome hook for the claim. */
  readonly claim: ClaimSpec;
  /**
   * One task per claimed job, each to its recorded outcome (never rejecting); may look things
   * up for the whole batch first. If this rejects, the jobs come back when their lease ends.
   */
  tasks(jobs: ClaimedJob[]): Promise<PollingTask[]>;
}

/**
 * Runs the registered job handlers: one PollingLoop per handler, each with its own
 * OUTBOX_BATCH_SIZE slots, so that a slow kind (a callback target that never answers) never delays
 * another (confirmation replies). Each loop claims only into its free slots and refills a slot as
 * soon as its job ends (see PollingLoop). Runs only when OUTBOX_WORKER_ENABLED; several instances
 * share the queue safely (see JobQueueRepository.claimDue). Stops before the database pool
 * closes, waiting for the jobs in flight.
 */
@Injectable()
export class JobRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobRunner');
  private readonly loops = new Map<string, PollingLoop>();
  private shuttingDown = false;

  constructor(
    private readonly config: AppConfig,
    private readonly queue: JobQueueRepository,
  ) {}

  /** Registers a handler (from its module's init, before the application bootstraps). */
  register(handler: JobHandler): void {
    if (this.loops.has(handler.claim.kind)) {
      throw new Error(`a handler for ${handler.claim.kind} jobs is already registered`);
    }
    const logger = new Logger(`${handler.name[0]!.toUpperCase()}${handler.name.slice(1)}Worker`);
    this.loops.set(
      handler.claim.kind,
      new PollingLoop({
        name: handler.name,
        logger,
        intervalMs: this.config.OUTBOX_POLL_INTERVAL_MS,
        slots: this.config.OUTBOX_BATCH_SIZE,
        claim: async (limit) => {
          const jobs = await this.queue.claimDue(handler.claim, limit);
          return jobs.length === 0 ? [] : handler.tasks(jobs);
        },
      }),
    );
  }

  onApplicationBootstrap(): void {
    if (!this.config.OUTBOX_WORKER_ENABLED) {
      this.logger.log('job workers disabled (OUTBOX_WORKER_ENABLED=false)');
      return;
    }
    for (const loop of this.loops.values()) loop.start();
  }

  /** Jobs in flight now, of every handler. */
  get running(): number {
    let n = 0;
    for (const loop of this.loops.values()) n += loop.running;
    return n;
  }

  /**
   * True once the application shuts down: a long job (an import) stops at its next step and
   * gives its claim back (JobQueueRepository.releaseClaim) rather than run to its end.
   */
  get stopping(): boolean {
    return this.shuttingDown;
  }

  /** Stops polling and waits for the jobs in flight (before the database pool closes). */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.loops.values()].map((loop) => loop.stop()));
  }

  /**
   * Claims due jobs of `kind` into its handler's free slots and does them; resolves to how many
   * were claimed once they are done. Rejects only when the claim itself fails.
   */
  runOnce(kind: string): Promise<number> {
    const loop = this.loops.get(kind);
    if (!loop) throw new Error(`no handler registered for ${kind} jobs`);
    return loop.runOnce();
  }
}
