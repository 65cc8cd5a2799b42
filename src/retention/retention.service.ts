import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { Pool } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { describeError } from '../jobs/polling-loop.js';

/** Batches one sweep deletes per table at most; the rest waits for the next sweep. */
const MAX_BATCHES_PER_SWEEP = 1000;

/** What one sweep deleted. */
export interface SweepResult {
  webhookDeliveries: number;
  jobs: number;
  callbackDeliveries: number;
  /** Imports left UPLOADING for a day (their instance died during the upload). */
  abandonedUploads: number;
  /** Staged rows no RUNNING import will apply (a FAILED import's, an abandoned upload's). */
  importRows: number;
  /** The parts of imports that no longer run (their job's progress while they did). */
  importParts: number;
  /** Rejected rows of an abandoned upload. */
  importErrors: number;
}

/**
 * A table's rows past retention: `key` (its primary key columns), `where` (with `$1` the days).
 * Never the audit trail (consent_audit refuses DELETE) or send_attempts: they are the evidence.
 */
const SWEEPS: {
  name: keyof SweepResult;
  table: string;
  key: string;
  where: string;
  /** The setting `$1` of `where` reads; none: `where` has no parameter. */
  days?: keyof AppConfig;
}[] = [
  {
    name: 'webhookDeliveries',
    table: 'webhook_deliveries',
    key: 'project_id, app_id, delivery_key',
    where: `received_at < now() - make_interval(days => $1::int)`,
    days: 'WEBHOOK_DELIVERY_RETENTION_DAYS',
  },
  {
    name: 'jobs',
    table: 'outbox_jobs',
    key: 'id',
    where: `status <> 'PENDING' AND finished_at < now() - make_interval(days => $1::int)`,
    days: 'JOB_RETENTION_DAYS',
  },
  {
    name: 'callbackDeliveries',
    table: 'callback_deliveries',
    key: 'id',
    where: `attempted_at < now() - make_interval(days => $1::int)`,
    days: 'JOB_RETENTION_DAYS',
  },
  {
    name: 'abandonedUploads',
    table: 'imports',
    key: 'import_id',
    where: `status = 'UPLOADING' AND created_at < now() - interval '1 day'`,
  },
  {
    // After the uploads above: their rows have no import left.
    name: 'importRows',
    table: 'import_rows',
    key: 'import_id, identity, list_type, line',
    where: `NOT EXISTS (SELECT 1 FROM imports i WHERE i.import_id = import_rows.import_id
                          AND i.status IN ('UPLOADING', 'RUNNING'))`,
  },
  {
    // A finished import's parts (its job's progress while it ran).
    name: 'importParts',
    table: 'import_parts',
    key: 'import_id, part',
    where: `NOT EXISTS (SELECT 1 FROM imports i WHERE i.import_id = import_parts.import_id
                          AND i.status = 'RUNNING')`,
  },
  {
    name: 'importErrors',
    table: 'import_errors',
    key: 'import_id, line',
    where: `NOT EXISTS (SELECT 1 FROM imports i WHERE i.import_id = import_errors.import_id)`,
  },
];

/**
 * Retention, run by every instance every RETENTION_INTERVAL_S: deletes the processed webhook
 * deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS, and the finished jobs and callback
 * delivery attempts older than JOB_RETENTION_DAYS (PENDING jobs are never deleted), in batches of
 * RETENTION_BATCH_SIZE rows: each batch is one statement that locks its rows with
 * `FOR UPDATE SKIP LOCKED`, so several instances sweeping at once delete disjoint batches and
 * never wait for each other. A failed sweep (database unavailable) is logged and retried on the
 * next interval.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Retention');
  private timer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running = this.sweep().catch((e: unknown) =>
        this.logger.warn(
          `retention sweep failed: ${describeError(e)}; next in ${this.config.RETENTION_INTERVAL_S} s`,
        ),
      );
    }, this.config.RETENTION_INTERVAL_S * 1000);
    // The HTTP server keeps the process alive; the sweep alone should not.
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One sweep of every table, batch by batch; resolves to how many rows it deleted. */
  async sweep(): Promise<SweepResult> {
    const result: SweepResult = {
      webhookDeliveries: 0,
      jobs: 0,
      callbackDeliveries: 0,
      abandonedUploads: 0,
      importRows: 0,
      importParts: 0,
      importErrors: 0,
    };
    const limit = this.config.RETENTION_BATCH_SIZE;
    for (const s of SWEEPS) {
      for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP && !this.stopped; batch++) {
        const { rows } = await this.pool.query<{ n: number }>(
          `WITH gone AS (
             DELETE FROM ${s.table}
              WHERE (${s.key}) IN (
                SELECT ${s.key} FROM ${s.table} WHERE ${s.where}
                 LIMIT $${s.days ? 2 : 1} FOR UPDATE SKIP LOCKED)
             RETURNING 1)
           SELECT count(*)::int AS n FROM gone`,
          s.days ? [this.config[s.days], limit] : [limit],
        );
        const n = rows[0]?.n ?? 0;
        result[s.name] += n;
        if (n < limit) break;
      }
    }
    if (Object.values(result).some((n) => n > 0)) {
      this.logger.log(
        `retention: deleted ${result.webhookDeliveries} webhook deliveries, ${result.jobs} finished jobs, ${result.callbackDeliveries} callback delivery attempts, ${result.abandonedUploads} abandoned import uploads, ${result.importRows} staged import rows, ${result.importParts} import parts, ${result.importErrors} import errors`,
      );
    }
    return result;
  }
}
