// Fault test: the built service, in its own process, is killed with SIGKILL in the middle of a
// load of opt-out confirmations, then started again. An opt-out confirmation whose attempt was in
// flight at the kill must not be sent a second time (the FCC allows one confirmation text): it is
// recorded as IN_DOUBT instead, and every reply ends with exactly one outcome record.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import { configKeys } from '../src/config/app-config.js';
import { FakeSinch, RecordedSend } from './fake-sinch.js';
import { inboundText } from './sinch-payloads.js';
import { ADMIN_KEY, Api, newApp, sleep, until } from './utils.js';

/** Opt-outs in the load: one STOP (and so one confirmation) per identity. */
const OPT_OUTS = 400;
/** Webhooks posted at once. */
const POSTERS = 16;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('opt-out confirmations across a kill -9 (the built service)', () => {
  const fake = new FakeSinch();
  const db = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
  let proc: ChildProcess | undefined;

  /** Starts dist/src/main.js with its reply worker on; resolves to its base URL once it serves. */
  async function startService(): Promise<string> {
    const port = await freePort();
    const env: Record<string, string | undefined> = { ...process.env };
    for (const key of configKeys()) delete env[key];
    Object.assign(env, {
      DATABASE_URL: process.env.TEST_DATABASE_URL,
      MIGRATIONS_RUN: 'false',
      ADMIN_API_KEY: ADMIN_KEY,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      SWAGGER_ENABLED: 'false',
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      SINCH_PROJECT_ID: 'proj',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
      NODE_OPTIONS: '',
    });
    const child = spawn(process.execPath, ['dist/src/main.js'], {
      env,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    proc = child;
    const baseUrl = `http://127.0.0.1:${port}`;
    await until(
      'the service to serve',
      async () => {
        if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode})`);
        return fetch(`${baseUrl}/health/live`).then(
          (r) => r.status,
          () => 0,
        );
      },
      (status) => status === 200,
      60_000,
    );
    return baseUrl;
  }

  async function stopService(signal: NodeJS.Signals): Promise<void> {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  beforeAll(async () => {
    fake.sendDelayMs = 250;
    await fake.start();
  });
  afterAll(async () => {
    await stopService('SIGKILL');
    await fake.stop();
    await db.end();
  });

  it('sends no opt-out confirmation twice, and records one outcome per reply', async () => {
    const { projectId, appId, base } = newApp();
    let baseUrl = await startService();
    // Settings without a webhook secret: unsigned webhooks are accepted.
    expect((await new Api(baseUrl).put(`${base}/consent-settings`, {})).status).toBe(200);

    const prefix = `4670${String(Math.floor(Math.random() * 900) + 100)}`;
    const identities = Array.from(
      { length: OPT_OUTS },
      (_, i) => prefix + String(i).padStart(4, '0'),
    );
    const bodies = identities.map((identity) =>
      JSON.stringify(inboundText(projectId, appId, 'STOP', { identity })),
    );
    const sendsOfApp = (): RecordedSend[] => fake.sends().filter((s) => s.app_id === appId);

    // Posters deliver every STOP until it is answered 200 (PROCESSED, or DUPLICATE when a post cut
    // by the kill had committed); while the service is down they wait and try again.
    let next = 0;
    const deadline = Date.now() + 120_000;
    const poster = async (): Promise<void> => {
      for (let i = next++; i < bodies.length; i = next++) {
        for (;;) {
          if (Date.now() > deadline) throw new Error('timed out posting webhooks');
          const status = await fetch(`${baseUrl}/webhooks/sinch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: bodies[i],
          }).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 200) break;
          if (status !== 0) throw new Error(`webhook answered ${status}`);
          await sleep(100);
        }
      }
    };
    const posting = Promise.all(Array.from({ length: POSTERS }, poster));

    // Kill -9 in the middle of the load, with confirmations in flight at the fake Sinch.
    await until(
      'a quarter of the confirmations to be sent',
      sendsOfApp,
      (s) => s.length >= OPT_OUTS / 4,
      60_000,
    );
    await stopService('SIGKILL');
    const unanswered = fake.requests.filter(
      (r) => r.status === undefined && (r.body as RecordedSend | undefined)?.app_id === appId,
    ).length;
    // The dead worker's leases would end in a minute or so: let them end now.
    await db.query(
      `UPDATE outbox_jobs SET next_attempt_at = now()
        WHERE app_id = $1 AND status = 'PENDING' AND next_attempt_at > now()`,
      [appId],
    );
    baseUrl = await startService();
    await posting;
    await until(
      'no reply job PENDING',
      async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM outbox_jobs WHERE app_id = $1 AND status = 'PENDING'`,
            [appId],
          )
        ).rows[0]!.n,
      (n) => n === 0,
      90_000,
    );
    await stopService('SIGTERM');

    const jobs = (
      await db.query<{ id: string; status: string; identity: string }>(
        `SELECT id::text AS id, status, payload->>'identity' AS identity
           FROM outbox_jobs WHERE app_id = $1 ORDER BY id`,
        [appId],
      )
    ).rows;
    const sendsTo = new Map<string, number>();
    for (const s of sendsOfApp()) {
      const to = s.recipient?.identified_by?.channel_identities?.[0]?.identity ?? '';
      sendsTo.set(to, (sendsTo.get(to) ?? 0) + 1);
    }
    const duplicates = [...sendsTo.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    const outcomes = (
      await db.query<{ job: string; kinds: string[] }>(
        `SELECT evidence->>'reply_job_id' AS job, array_agg(kind ORDER BY id) AS kinds
           FROM consent_audit
          WHERE app_id = $1 AND kind IN ('REPLY_SENT', 'REPLY_FAILED', 'REPLY_IN_DOUBT')
          GROUP BY 1`,
        [appId],
      )
    ).rows;
    const inDoubt = jobs.filter((j) => j.status === 'IN_DOUBT').length;
    process.stdout.write(
      `\n[reply-crash] ${OPT_OUTS} opt-outs, ${unanswered} sends unanswered at the kill, ` +
        `${duplicates} duplicate confirmations, ${inDoubt} IN_DOUBT\n`,
    );

    expect(unanswered).toBeGreaterThan(0);
    expect(jobs).toHaveLength(OPT_OUTS);
    expect(duplicates).toBe(0);
    expect(new Set(jobs.map((j) => j.status)).size).toBeGreaterThan(0);
    for (const j of jobs) expect(['SENT', 'FAILED', 'IN_DOUBT']).toContain(j.status);
    // A SENT reply went out once; one in doubt went out at most once.
    for (const j of jobs) {
      const sent = sendsTo.get(j.identity) ?? 0;
      expect([j.status, sent <= 1, j.status !== 'SENT' || sent === 1]).toEqual([
        j.status,
        true,
        true,
      ]);
    }
    const byJob = new Map(outcomes.map((o) => [o.job, o.kinds]));
    for (const j of jobs) {
      expect([j.id, byJob.get(j.id)]).toEqual([
        j.id,
        [{ SENT: 'REPLY_SENT', FAILED: 'REPLY_FAILED', IN_DOUBT: 'REPLY_IN_DOUBT' }[j.status]],
      ]);
    }
  });
});
