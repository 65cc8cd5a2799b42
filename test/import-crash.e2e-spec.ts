// Fault test: the built service, in its own process, is killed with SIGKILL while its IMPORT job
// is applying an import, then started again. The import resumes from its cursor once the lease
// has run out and SUCCEEDS with each row's audit record written exactly once.
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { abandonPendingJobs, Api, newApp, ServiceProcess, spawnService, until } from './utils.js';

const ROWS = 800;

describe('an import across a kill -9 of the service', () => {
  const db = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
  let service: ServiceProcess | undefined;
  const projects: string[] = [];

  const start = async (): Promise<ServiceProcess> => {
    const s = await spawnService({
      DATABASE_URL: process.env.TEST_DATABASE_URL,
      MIGRATIONS_RUN: 'false',
      LOG_LEVEL: 'error',
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      IMPORT_CHUNK_ROWS: '20',
      IMPORT_APPLY_PARTS: '2',
      IMPORT_JOB_LEASE_MS: '2000',
    });
    await until(
      'the service to serve',
      () =>
        fetch(`${s.baseUrl}/health/live`).then(
          (r) => r.status,
          () => 0,
        ),
      (status) => status === 200,
      90_000,
    );
    return s;
  };

  afterAll(async () => {
    if (service) {
      service.proc.kill('SIGKILL');
      await service.exited;
    }
    await abandonPendingJobs(db, projects);
    await db.end();
  });

  it('resumes after the kill and applies every row exactly once', async () => {
    const { projectId, appId, base } = newApp();
    projects.push(projectId);
    const prefix = `4670${String(Math.floor(Math.random() * 900) + 100)}`;
    const identities = Array.from({ length: ROWS }, (_, i) => prefix + String(i).padStart(4, '0'));
    const csv = `identity,list_type,source\n${identities.map((id) => `${id},OPT_OUT_ALL,crash`).join('\n')}\n`;

    service = await start();
    const res = await new Api(service.baseUrl).request('POST', `${base}/imports`, csv, {
      'content-type': 'text/csv',
    });
    expect(res.status).toBe(202);
    const importId: string = res.body.import_id;
    const progress = async () =>
      (
        await db.query<{ status: string; applied: number }>(
          `SELECT status, applied FROM imports WHERE import_id = $1`,
          [importId],
        )
      ).rows[0]!;

    // Kill -9 while the job is part way through.
    const mid = await until(
      'the import to be part applied',
      progress,
      (p) => p.applied >= 100 || p.status !== 'RUNNING',
      60_000,
    );
    service.proc.kill('SIGKILL');
    await service.exited;
    expect(mid.status).toBe('RUNNING');
    const atKill = (await progress()).applied;
    expect(atKill).toBeLessThan(ROWS);

    service = await start();
    const done = await until(
      'the import to finish after the restart',
      () => new Api(service!.baseUrl).get(`${base}/imports/${importId}`),
      (r) => r.status === 200 && r.body.status !== 'RUNNING',
      90_000,
    );
    expect(done.body).toMatchObject({
      status: 'SUCCEEDED',
      rows_read: ROWS,
      applied: ROWS,
      no_change: 0,
      superseded: 0,
      rejected: 0,
    });
    // Exactly one audit record per row, all of this import.
    const audit = await db.query<{ records: number; identities: number; min: number; max: number }>(
      `SELECT sum(n)::int AS records, count(*)::int AS identities,
              min(n)::int AS min, max(n)::int AS max
         FROM (SELECT identity, count(*) AS n FROM consent_audit
                WHERE import_id = $1 GROUP BY identity) per`,
      [importId],
    );
    expect(audit.rows[0]).toEqual({ records: ROWS, identities: ROWS, min: 1, max: 1 });
    const states = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM consent_state
        WHERE project_id = $1 AND app_id = $2 AND opted_out AND source = 'crash'`,
      [projectId, appId],
    );
    expect(states.rows[0]!.n).toBe(ROWS);
    // The job was attempted again after the kill, and nothing stays staged.
    const job = await db.query<{ status: string; attempts: number }>(
      `SELECT j.status, j.attempts FROM outbox_jobs j JOIN imports i ON i.job_id = j.id
        WHERE i.import_id = $1`,
      [importId],
    );
    expect(job.rows[0]!.status).toBe('SENT');
    expect(job.rows[0]!.attempts).toBeGreaterThanOrEqual(2);
    const staged = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM import_rows WHERE import_id = $1`,
      [importId],
    );
    expect(staged.rows[0]!.n).toBe(0);
    // Two boots of the built service on a busy machine.
  }, 240_000);
});
