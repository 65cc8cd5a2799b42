import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditCheckpointService } from '../src/audit/audit-checkpoint.service.js';
import { checkEvidence, type EvidenceBundle } from '../src/audit/domain/evidence.js';
import { keyIdOf } from '../src/audit/domain/checkpoint.js';
import { DataSource, QueryRunner } from 'typeorm';
import type { PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { chainCopySql, IDENTITY_KEY_SECRET } from '../src/audit/audit-chain.repository.js';
import type { AppRef } from '../src/kernel/app-ref.js';
import { readChain } from '../src/audit/chain-copy.js';
import {
  canonicalEncoding,
  ChainVerifier,
  GENESIS_HASH,
  IdentityKeyer,
  storedChainRecord,
  type StoredChainRecord,
  textDigest,
} from '../src/audit/domain/audit-chain.js';
import { AuditHashChain1764800000000 } from '../src/database/migrations/1764800000000-audit-hash-chain.js';
import { Api, newApp, seededRandom, startTestApp, TestApp } from './utils.js';

type Verify = {
  verified: boolean;
  records: number;
  head_record_id?: string | null;
  head_hash?: string | null;
  first_bad_record_id?: string;
  reason?: string;
  lanes?: { lane: number; records: number; chain_seq: string; head_record_id: string }[];
};
type AuditRecord = { id: string; hash: string; prev_hash: string; identity: string | null };

const LISTS = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'] as const;

/**
 * One app's chain as its COPY (chainCopySql) reads it, on `runner`'s connection: each record
 * with its buffers copied (the reader reuses them).
 */
async function chainRecords(runner: QueryRunner, app: AppRef): Promise<StoredChainRecord[]> {
  const client = (await runner.connect()) as PoolClient;
  const records: StoredChainRecord[] = [];
  await readChain(app, client.query(copyTo(chainCopySql(app))), (r) => {
    records.push(
      storedChainRecord({
        seq: r.seq,
        id: r.id,
        identityMatches: r.identityMatches,
        encoding: Buffer.from(r.encoding),
        prevHash: r.prevHash,
        hash: r.hash,
      }),
    );
    return true;
  });
  return records;
}

/**
 * Issue 9, item 1 and 2: every audit record is chained per app by the database (SHA-256 over
 * its canonical encoding and the previous hash), and GET .../audit:verify names the first record
 * that was changed, deleted, inserted or moved behind the service's back.
 */
describe('audit hash chain', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  /** An app with `n` consent changes (a settings change first), ids in chain order. */
  async function appWithRecords(n: number): Promise<{
    app: ReturnType<typeof newApp>;
    ids: string[];
  }> {
    const app = newApp();
    expect((await api.put(`${app.base}/consent-settings`, { mode: 'PRIMARY' })).status).toBe(200);
    for (let i = 0; i < n; i++) {
      const res = await api.put(
        `${app.base}/identities/4670000${String(i).padStart(4, '0')}/opt-outs/${LISTS[i % 3]}`,
        { reason: `case ${i}` },
      );
      expect(res.status).toBe(200);
    }
    const rows: { id: string }[] = await ds.query(
      `SELECT id::text AS id FROM consent_audit WHERE project_id = $1 AND app_id = $2
        ORDER BY chain_seq`,
      [app.projectId, app.appId],
    );
    expect(rows).toHaveLength(n + 1);
    return { app, ids: rows.map((r) => r.id) };
  }

  async function verify(app: ReturnType<typeof newApp>): Promise<Verify> {
    const res = await api.get(`${app.base}/audit:verify`);
    expect(res.status).toBe(200);
    return res.body as Verify;
  }

  /** Runs `sql` with the audit table's triggers off, as a superuser rewriting history would. */
  async function tamper(...statements: [string, unknown[]?][]): Promise<void> {
    await ds.transaction(async (m) => {
      await m.query(`ALTER TABLE consent_audit DISABLE TRIGGER USER`);
      for (const [sql, params] of statements) await m.query(sql, params ?? []);
      await m.query(`ALTER TABLE consent_audit ENABLE TRIGGER USER`);
    });
  }

  it('chains every record of an app, whatever wrote it, and the API shows hash and prev_hash', async () => {
    const { app, ids } = await appWithRecords(4);
    const identity = '46700000002';
    const res = await api.get(`${app.base}/identities/${identity}/audit-records`);
    expect(res.status).toBe(200);
    const [record] = res.body.audit_records as AuditRecord[];
    expect(record!.hash).toMatch(/^[0-9a-f]{64}$/);
    const rows: { id: string; seq: string; prev: string; hash: string }[] = await ds.query(
      `SELECT id::text AS id, chain_seq::text AS seq, encode(prev_hash, 'hex') AS prev,
              encode(hash, 'hex') AS hash
         FROM consent_audit WHERE project_id = $1 AND app_id = $2 ORDER BY chain_seq`,
      [app.projectId, app.appId],
    );
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => r.seq)).toEqual(['1', '2', '3', '4', '5']);
    expect(rows[0]!.prev).toBe(GENESIS_HASH.toString('hex'));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev).toBe(rows[i - 1]!.hash);
    const mine = rows.find((r) => r.id === record!.id)!;
    expect(record!.hash).toBe(mine.hash);
    expect(record!.prev_hash).toBe(mine.prev);
    // The audit export carries them too.
    const exp = await api.request<string>('GET', `${app.base}/audit-records:export`);
    expect(exp.status).toBe(200);
    const lines = String(exp.body)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.map((l) => l.hash)).toEqual(rows.map((r) => r.hash));
    expect(await verify(app)).toEqual({
      verified: true,
      records: 5,
      checkpoints: 0,
      head_record_id: ids[4],
      head_hash: rows[4]!.hash,
      lanes: [
        { lane: 0, records: 5, chain_seq: '5', head_record_id: ids[4], head_hash: rows[4]!.hash },
      ],
    });
  });

  it('another app has a chain of its own, and an app without records verifies empty', async () => {
    const { app } = await appWithRecords(1);
    const row: { seq: string; prev: string }[] = await ds.query(
      `SELECT chain_seq::text AS seq, encode(prev_hash, 'hex') AS prev FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 ORDER BY chain_seq LIMIT 1`,
      [app.projectId, app.appId],
    );
    expect(row[0]).toEqual({ seq: '1', prev: GENESIS_HASH.toString('hex') });
    expect(await verify(newApp())).toEqual({
      verified: true,
      records: 0,
      checkpoints: 0,
      head_record_id: null,
      head_hash: null,
      lanes: [],
    });
  });

  it('the JS encoding is the database encoding, for any text (a property over random records)', async () => {
    const random = seededRandom(9);
    const pick = (text: string, n: number) => {
      const chars = Array.from(text); // code points, not UTF-16 units
      return Array.from({ length: n }, () => chars[Math.floor(random() * chars.length)]).join('');
    };
    const nasty = 'aZ09 "\\/\n\r\t\u0001\u001f\u007f\u00e9\u2028\u{1F600}{}[],:';
    const app = newApp();
    for (let i = 0; i < 25; i++) {
      const evidence = {
        [pick(nasty, 3)]: pick(nasty, 8),
        n: Math.floor(random() * 1e6),
        z: [1.5, null, true],
      };
      await ds.transaction(async (m) => {
        await m.query(
          `INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, origin,
             operation, outcome, actor, reason, evidence, batch_id, event_time,
             claimed_event_time, import_id, source)
           VALUES ('CONSENT_CHANGE', $1, $2, $3, 'OPT_OUT_ALL', 'ORIGIN_API', 'OPT_OUT',
             'APPLIED', $4, $5, $6, $7, now() - ($8 || ' microseconds')::interval,
             $9, NULL, $10)`,
          [
            app.projectId,
            app.appId,
            pick(nasty, 12),
            pick(nasty, 10),
            random() < 0.3 ? null : pick(nasty, 40),
            random() < 0.3 ? null : JSON.stringify(evidence),
            random() < 0.5 ? null : pick(nasty, 6),
            String(Math.floor(random() * 1e9)),
            random() < 0.5 ? null : new Date(Date.now() - 1000).toISOString(),
            random() < 0.5 ? null : pick(nasty, 20),
          ],
        );
      });
    }
    const rows: Record<string, string | null>[] = await ds.query(
      `SELECT consent_audit_canonical(a) AS db, a.chain_seq::text AS chain_seq, a.id::text AS id,
              a.kind, a.project_id, a.app_id, encode(a.identity_key, 'hex') AS identity_key,
              a.list_type, a.origin, a.operation, a.outcome, a.actor, a.reason,
              a.evidence::text AS evidence, a.batch_id,
              (extract(epoch FROM a.event_time) * 1000000)::bigint::text AS event_time_us,
              (extract(epoch FROM a.recorded_at) * 1000000)::bigint::text AS recorded_at_us,
              (extract(epoch FROM a.claimed_event_time) * 1000000)::bigint::text AS claimed_event_time_us,
              a.import_id, a.source, encode(a.hash, 'hex') AS hash, encode(a.prev_hash, 'hex') AS prev
         FROM consent_audit a WHERE a.project_id = $1 AND a.app_id = $2 ORDER BY a.chain_seq`,
      [app.projectId, app.appId],
    );
    const runner = ds.createQueryRunner();
    const read = await chainRecords(runner, app).finally(() => runner.release());
    expect(rows).toHaveLength(25);
    expect(read).toHaveLength(25);
    rows.forEach((r, i) => {
      const js = canonicalEncoding({
        chain_seq: r.chain_seq!,
        id: r.id!,
        kind: r.kind!,
        project_id: r.project_id!,
        app_id: r.app_id!,
        identity_key: r.identity_key ?? null,
        list_type: r.list_type ?? null,
        origin: r.origin ?? null,
        operation: r.operation ?? null,
        outcome: r.outcome ?? null,
        actor: r.actor!,
        reason_sha256: textDigest(r.reason ?? null),
        evidence_sha256: textDigest(r.evidence ?? null),
        batch_id: r.batch_id ?? null,
        event_time_us: r.event_time_us!,
        recorded_at_us: r.recorded_at_us!,
        claimed_event_time_us: r.claimed_event_time_us ?? null,
        import_id: r.import_id ?? null,
        source: r.source ?? null,
      });
      expect(js).toBe(r.db);
      expect(read[i]!.encoding.toString('utf8')).toBe(r.db);
      expect(read[i]!.hash.toString('hex')).toBe(r.hash);
      expect(read[i]!.prevHash.toString('hex')).toBe(r.prev);
      const hash = createHash('sha256')
        .update(Buffer.from(r.prev!, 'hex'))
        .update(js, 'utf8')
        .digest('hex');
      expect(hash).toBe(r.hash);
    });
    expect((await verify(app)).verified).toBe(true);
  });

  it('the keyed identity hash is HMAC-SHA256 with the stored key', async () => {
    const { app } = await appWithRecords(1);
    const [secret] = (await ds.query(`SELECT value FROM service_secrets WHERE name = $1`, [
      IDENTITY_KEY_SECRET,
    ])) as { value: string }[];
    const keyer = IdentityKeyer.fromPads(secret!.value);
    const [row] = (await ds.query(
      `SELECT identity, encode(identity_key, 'hex') AS k FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 AND identity IS NOT NULL`,
      [app.projectId, app.appId],
    )) as { identity: string; k: string }[];
    expect(row!.k).toBe(keyer.keyOf(row!.identity).toString('hex'));
  });

  it('names the first changed record', async () => {
    const { app, ids } = await appWithRecords(5);
    await tamper([`UPDATE consent_audit SET reason = 'nothing happened' WHERE id = $1`, [ids[3]]]);
    expect(await verify(app)).toMatchObject({
      verified: false,
      records: 3,
      first_bad_record_id: ids[3],
      reason: expect.stringContaining('changed') as unknown as string,
    });
  });

  it('names a record whose clear identity was swapped', async () => {
    const { app, ids } = await appWithRecords(3);
    await tamper([`UPDATE consent_audit SET identity = '46799999999' WHERE id = $1`, [ids[2]]]);
    expect(await verify(app)).toMatchObject({
      verified: false,
      first_bad_record_id: ids[2],
      reason: expect.stringContaining('keyed hash') as unknown as string,
    });
  });

  it('names the record after a deleted one', async () => {
    const { app, ids } = await appWithRecords(5);
    await tamper([`DELETE FROM consent_audit WHERE id = $1`, [ids[2]]]);
    expect(await verify(app)).toMatchObject({
      verified: false,
      records: 2,
      first_bad_record_id: ids[3],
      reason: expect.stringContaining('missing') as unknown as string,
    });
  });

  it('names a record inserted in the middle (the chain renumbered around it) or at the end', async () => {
    const { app, ids } = await appWithRecords(4);
    const copy = `INSERT INTO consent_audit (id, kind, project_id, app_id, identity, identity_key,
                    list_type, origin, operation, outcome, actor, reason, event_time, recorded_at,
                    chain_seq, prev_hash, hash) OVERRIDING SYSTEM VALUE
                  SELECT nextval('consent_audit_id_seq'), kind, project_id, app_id, identity,
                         identity_key, list_type, origin, 'OPT_IN', outcome, actor, 'forged',
                         event_time, recorded_at, $2, prev_hash, sha256(hash)
                    FROM consent_audit WHERE id = $1`;
    await tamper(
      [
        `UPDATE consent_audit SET chain_seq = -chain_seq WHERE project_id = $1 AND app_id = $2 AND chain_seq >= 3`,
        [app.projectId, app.appId],
      ],
      [
        `UPDATE consent_audit SET chain_seq = 1 - chain_seq WHERE project_id = $1 AND app_id = $2 AND chain_seq < 0`,
        [app.projectId, app.appId],
      ],
      [copy, [ids[2], 3]],
    );
    const [forged] = (await ds.query(
      `SELECT id::text AS id FROM consent_audit WHERE project_id = $1 AND app_id = $2 AND chain_seq = 3`,
      [app.projectId, app.appId],
    )) as { id: string }[];
    expect(forged!.id).not.toBe(ids[2]);
    expect(await verify(app)).toMatchObject({
      verified: false,
      records: 2,
      first_bad_record_id: forged!.id,
    });

    const other = await appWithRecords(2);
    await tamper([copy, [other.ids[2], 4]]);
    const atEnd = await verify(other.app);
    expect(atEnd).toMatchObject({ verified: false, records: 3 });
    expect(other.ids).not.toContain(atEnd.first_bad_record_id);
  });

  it('names the first of two records whose order was swapped', async () => {
    const { app, ids } = await appWithRecords(5);
    const swap = (from: number, to: number) =>
      [
        `UPDATE consent_audit SET chain_seq = $4 WHERE project_id = $1 AND app_id = $2 AND chain_seq = $3`,
        [app.projectId, app.appId, from, to],
      ] as [string, unknown[]];
    await tamper(swap(3, -1), swap(4, 3), swap(-1, 4));
    expect(await verify(app)).toMatchObject({
      verified: false,
      records: 2,
      first_bad_record_id: ids[3],
      reason: expect.stringContaining('prev_hash') as unknown as string,
    });
  });

  it('names a record written outside the chain (no position), instead of failing', async () => {
    const { app, ids } = await appWithRecords(2);
    await ds.query(`ALTER TABLE consent_audit ALTER COLUMN chain_seq DROP NOT NULL`);
    try {
      await tamper([
        `INSERT INTO consent_audit (kind, project_id, app_id, identity, identity_key, list_type,
           origin, operation, outcome, actor, event_time, prev_hash, hash)
         SELECT kind, project_id, app_id, identity, identity_key, list_type, origin, operation,
                outcome, actor, event_time, prev_hash, hash FROM consent_audit WHERE id = $1`,
        [ids[2]],
      ]);
      const v = await verify(app);
      expect(v).toMatchObject({ verified: false, records: 3 });
      expect(v.reason).toContain('no chain position');
      expect(ids).not.toContain(v.first_bad_record_id);
    } finally {
      await tamper([
        `DELETE FROM consent_audit WHERE project_id = $1 AND app_id = $2 AND chain_seq IS NULL`,
        [app.projectId, app.appId],
      ]);
      await ds.query(`ALTER TABLE consent_audit ALTER COLUMN chain_seq SET NOT NULL`);
    }
  });

  it('concurrent writers of one app make one chain: no fork, no gap', async () => {
    const app = newApp();
    const writers = Array.from({ length: 24 }, (_, i) =>
      api.put(
        `${app.base}/identities/4671000${String(i).padStart(4, '0')}/opt-outs/OPT_OUT_ALL`,
        {},
      ),
    );
    const answers = await Promise.all(writers);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    // Writers that overlap take different lanes: in each, positions 1, 2, ... without a gap.
    const rows: { lane: number; seq: string }[] = await ds.query(
      `SELECT chain_lane AS lane, chain_seq::text AS seq FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 ORDER BY chain_lane, chain_seq`,
      [app.projectId, app.appId],
    );
    const byLane = new Map<number, number[]>();
    for (const r of rows) byLane.set(r.lane, [...(byLane.get(r.lane) ?? []), Number(r.seq)]);
    for (const seqs of byLane.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect([...byLane.keys()].every((l) => l >= 0 && l < 8)).toBe(true);
    const verified = await verify(app);
    expect(verified).toMatchObject({ verified: true, records: rows.length });
    expect(verified.lanes!.map((l) => [l.lane, l.records])).toEqual(
      [...byLane].map(([lane, seqs]) => [lane, seqs.length]),
    );
    expect(rows.length).toBe(24);
  });

  it('the migration chains the records that were there before it', async () => {
    const { app } = await appWithRecords(3);
    const migration = new AuditHashChain1764800000000();
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await migration.down(runner);
      // The down removed the identity key the chain trigger keeps for the session: forget it.
      await runner.query(`SELECT set_config('consent_gate.identity_key_pads', '', false)`);
      const cols: { n: string }[] = await runner.query(
        `SELECT count(*)::text AS n FROM information_schema.columns
          WHERE table_name = 'consent_audit' AND column_name IN ('hash', 'chain_seq')`,
      );
      expect(cols[0]!.n).toBe('0');
      await migration.up(runner);
      const [secret] = (await runner.query(`SELECT value FROM service_secrets WHERE name = $1`, [
        IDENTITY_KEY_SECRET,
      ])) as { value: string }[];
      expect(secret!.value).toMatch(/^[0-9a-f]{256}$/);
      const verifier = new ChainVerifier();
      for (const record of await chainRecords(runner, app)) {
        expect(verifier.add(record)).toBe(true);
      }
      expect(verifier.records).toBe(4);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect((await verify(app)).verified).toBe(true);
  });
});

type Checkpoint = {
  checkpoint_id: string;
  project_id: string;
  app_id: string;
  record_id: string;
  chain_seq: string;
  head_hash: string;
  signed_at: string;
  key_id: string;
  public_key: string;
  signature: string;
  signed_text: string;
};

/**
 * Issue 9, item 3: the service signs chain heads with its Ed25519 key, on demand and
 * periodically; checkpoints are kept, listed and checked by verify, so that a rewrite of history
 * before a checkpoint is detected even when the chain itself was re-hashed consistently.
 */
describe('signed audit checkpoints', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  async function appWith(n: number) {
    const app = newApp();
    for (let i = 0; i < n; i++) {
      const res = await api.put(
        `${app.base}/identities/4672000${String(i).padStart(4, '0')}/opt-outs/OPT_OUT_ALL`,
        { reason: `r${i}` },
      );
      expect(res.status).toBe(200);
    }
    return app;
  }

  const ids = async (app: ReturnType<typeof newApp>) =>
    (
      (await ds.query(
        `SELECT id::text AS id FROM consent_audit WHERE project_id = $1 AND app_id = $2 ORDER BY chain_seq`,
        [app.projectId, app.appId],
      )) as { id: string }[]
    ).map((r) => r.id);

  async function sql(...statements: [string, unknown[]][]): Promise<void> {
    await ds.transaction(async (m) => {
      await m.query(`ALTER TABLE consent_audit DISABLE TRIGGER USER`);
      await m.query(`ALTER TABLE audit_checkpoints DISABLE TRIGGER USER`);
      for (const [q, params] of statements) await m.query(q, params);
      await m.query(`ALTER TABLE consent_audit ENABLE TRIGGER USER`);
      await m.query(`ALTER TABLE audit_checkpoints ENABLE TRIGGER USER`);
    });
  }

  it('publishes its public key without a token, and signs a checkpoint of the head on demand', async () => {
    const key = await api.as(null).get('/v1/audit-signing-key');
    expect(key.status).toBe(200);
    expect(key.body).toMatchObject({ algorithm: 'Ed25519', source: 'generated' });
    const raw = Buffer.from(key.body.public_key as string, 'base64');
    expect(raw).toHaveLength(32);
    expect(key.body.key_id).toBe(keyIdOf(raw));

    const app = await appWith(3);
    const res = await api.post(`${app.base}/audit:checkpoint`);
    expect(res.status).toBe(201);
    const c = res.body as Checkpoint;
    const chain = await ids(app);
    const [head] = (await ds.query(
      `SELECT encode(hash, 'hex') AS h FROM consent_audit WHERE id = $1`,
      [chain[2]],
    )) as { h: string }[];
    expect(c).toMatchObject({
      project_id: app.projectId,
      app_id: app.appId,
      record_id: chain[2],
      chain_seq: '3',
      head_hash: head!.h,
      key_id: key.body.key_id,
      public_key: key.body.public_key,
    });
    expect(JSON.parse(c.signed_text)).toEqual([
      'consent-gate-checkpoint-v1',
      app.projectId,
      app.appId,
      '3',
      chain[2],
      head!.h,
      c.signed_at,
      c.key_id,
    ]);
    // Checked with node:crypto and the PEM alone, not the service's code.
    const pem = createPublicKey(key.body.public_key_pem as string);
    expect(
      cryptoVerify(null, Buffer.from(c.signed_text), pem, Buffer.from(c.signature, 'base64')),
    ).toBe(true);
    expect(
      cryptoVerify(null, Buffer.from(c.signed_text + ' '), pem, Buffer.from(c.signature, 'base64')),
    ).toBe(false);

    const v = await api.get(`${app.base}/audit:verify`);
    expect(v.body).toMatchObject({ verified: true, records: 3, checkpoints: 1 });
  });

  it('lists checkpoints newest first, paged; refuses an app without records (409)', async () => {
    const app = await appWith(1);
    const first = await api.post(`${app.base}/audit:checkpoint`);
    await api.put(`${app.base}/identities/46720009999/opt-outs/OPT_OUT_MARKETING`, {});
    const second = await api.post(`${app.base}/audit:checkpoint`);
    expect(second.body.chain_seq).toBe('2');
    const page1 = await api.get(`${app.base}/audit-checkpoints?page_size=1`);
    expect(page1.status).toBe(200);
    expect(page1.body.checkpoints.map((c: Checkpoint) => c.checkpoint_id)).toEqual([
      second.body.checkpoint_id,
    ]);
    const page2 = await api.get(
      `${app.base}/audit-checkpoints?page_size=1&page_token=${page1.body.next_page_token}`,
    );
    expect(page2.body.checkpoints.map((c: Checkpoint) => c.checkpoint_id)).toEqual([
      first.body.checkpoint_id,
    ]);
    expect(page2.body.next_page_token).toBe('');
    for (const bad of ['page_size=0', 'page_size=101', 'page_size=x', 'page_token=%21%21']) {
      const res = await api.get(`${app.base}/audit-checkpoints?${bad}`);
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
    const badApp = await api.post(`/v1/projects/p/apps/bad%20app/audit:checkpoint`);
    expect(badApp.status).toBe(400);
    const empty = await api.post(`${newApp().base}/audit:checkpoint`);
    expect(empty.status).toBe(409);
    expect(empty.body.error.message).toContain('no audit records');
  });

  it('detects history rewritten before a checkpoint even when the chain was re-hashed', async () => {
    const app = await appWith(4);
    expect((await api.post(`${app.base}/audit:checkpoint`)).status).toBe(201);
    const chain = await ids(app);
    // A superuser changes record 2 and re-chains everything after it, as the trigger would.
    await sql(
      [`UPDATE consent_audit SET reason = 'never asked' WHERE id = $1`, [chain[1]]],
      [
        `DO $$ DECLARE r consent_audit; prev bytea; BEGIN
           FOR r IN SELECT * FROM consent_audit WHERE project_id = '${app.projectId}'
                      AND app_id = '${app.appId}' ORDER BY chain_seq LOOP
             IF prev IS NOT NULL THEN r.prev_hash := prev; END IF;
             r.hash := sha256(r.prev_hash || convert_to(consent_audit_canonical(r), 'UTF8'));
             UPDATE consent_audit SET prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
             prev := r.hash;
           END LOOP; END $$`,
        [],
      ],
    );
    const v = await api.get(`${app.base}/audit:verify`);
    expect(v.body).toMatchObject({
      verified: false,
      first_bad_record_id: chain[3],
      reason: expect.stringContaining('rewritten') as unknown as string,
    });
    // And no new checkpoint is signed over it.
    const refused = await api.post(`${app.base}/audit:checkpoint`);
    expect(refused.status).toBe(409);
  });

  it('detects records removed from the end, and a forged checkpoint signature', async () => {
    const app = await appWith(3);
    const signed = (await api.post(`${app.base}/audit:checkpoint`)).body as Checkpoint;
    const chain = await ids(app);
    await sql([`DELETE FROM consent_audit WHERE id = $1`, [chain[2]]]);
    expect((await api.get(`${app.base}/audit:verify`)).body).toMatchObject({
      verified: false,
      first_bad_record_id: chain[2],
      reason: expect.stringContaining('records were removed') as unknown as string,
    });

    const other = await appWith(2);
    const c = (await api.post(`${other.base}/audit:checkpoint`)).body as Checkpoint;
    await sql([
      `UPDATE audit_checkpoints SET signed_at = signed_at - interval '1 day' WHERE id = $1`,
      [c.checkpoint_id],
    ]);
    expect((await api.get(`${other.base}/audit:verify`)).body).toMatchObject({
      verified: false,
      reason: expect.stringContaining('invalid signature') as unknown as string,
    });
    void signed;
  });

  it('the periodic sweep signs apps whose chain grew since their last checkpoint, once', async () => {
    const app = await appWith(2);
    const service = t.app.get(AuditCheckpointService);
    expect(await service.sweep()).toBeGreaterThanOrEqual(1);
    const list = await api.get(`${app.base}/audit-checkpoints`);
    expect(list.body.checkpoints).toHaveLength(1);
    expect(list.body.checkpoints[0].chain_seq).toBe('2');
    await service.sweep();
    expect((await api.get(`${app.base}/audit-checkpoints`)).body.checkpoints).toHaveLength(1);
    await api.put(`${app.base}/identities/46720008888/opt-outs/OPT_OUT_ALL`, {});
    await service.sweep();
    const after = await api.get(`${app.base}/audit-checkpoints`);
    expect(after.body.checkpoints.map((c: Checkpoint) => c.chain_seq)).toEqual(['3', '2']);
  });
});

/**
 * Issue 9, item 4: an evidence bundle about an identity is checked offline (npm run
 * verify-evidence, no database) and any tampering with it fails the check.
 */
describe('evidence bundles', () => {
  let t: TestApp;
  let api: Api;
  let dir: string;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    dir = mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  /** Runs the CLI on `bundle`; its exit code and output. */
  function cli(bundle: unknown, ...args: string[]): { code: number; out: string } {
    const file = path.join(dir, `b-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(bundle));
    const r = spawnSync(process.execPath, ['dist/src/scripts/verify-evidence.js', file, ...args], {
      encoding: 'utf8',
    });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }

  it('bundles an identity, verifies offline, and fails on every kind of tampering', async () => {
    const app = newApp();
    const me = '46730001111';
    const path_ = (id: string, list: string) => `${app.base}/identities/${id}/opt-outs/${list}`;
    await api.put(path_(me, 'OPT_OUT_MARKETING'), {
      reason: 'STOP "quoted"\nsecond line',
      evidence: { form: 'web', ip: '192.0.2.1', nested: { a: [1, 2] } },
    });
    await api.put(path_('46730002222', 'OPT_OUT_ALL'), {});
    await api.delete(path_(me, 'OPT_OUT_MARKETING'), { reason: 'START' });
    expect((await api.post(`${app.base}/audit:checkpoint`)).status).toBe(201);
    await api.put(path_('46730003333', 'OPT_OUT_ALL'), {});
    await api.put(path_(me, 'OPT_OUT_ALL'), { reason: 'STOP ALL' });
    await api.put(path_('46730004444', 'OPT_OUT_ALL'), {});

    const before = (await api.get(`${app.base}/audit-checkpoints`)).body.checkpoints.length;
    const res = await api.get(`${app.base}/identities/+46%2073-000%2011%2011:evidence`);
    expect(res.status).toBe(200);
    const bundle = res.body as EvidenceBundle;
    // The last record was not covered: a checkpoint of the head was signed for it.
    expect((await api.get(`${app.base}/audit-checkpoints`)).body.checkpoints.length).toBe(
      before + 1,
    );
    expect(bundle.identity).toBe(me);
    expect(bundle.records.map((r) => r.reason)).toEqual([
      'STOP "quoted"\nsecond line',
      'START',
      'STOP ALL',
    ]);
    expect(bundle.state.lists.map((l) => l.list_type)).toEqual(['OPT_OUT_ALL']);
    expect(bundle.chains!.map((c) => c.lane)).toEqual([0]);
    expect(bundle.chains![0]!.links.map((l) => l.fields.chain_seq)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
    // Other people appear as keyed hashes only.
    expect(JSON.stringify(bundle.chains)).not.toContain('46730002222');
    expect(checkEvidence(bundle).ok).toBe(true);
    // A bundle of the v1 format (before lanes: one segment, `chain`, of lane 0) still checks.
    const v1 = JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
    v1.format = 'consent-gate-evidence-v1';
    v1.chain = { prev_hash: v1.chains![0]!.prev_hash, links: v1.chains![0]!.links };
    delete v1.chains;
    for (const r of v1.records) delete r.chain_lane;
    expect(checkEvidence(v1)).toMatchObject({ ok: true });
    expect(checkEvidence({ ...v1, chain: undefined }).problems).toEqual([
      'the bundle has no chain',
    ]);

    const ok = cli(bundle);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('VERIFIED');
    expect(ok.out).toContain('3 record(s)');
    expect(cli(bundle, '--key', bundle.signing_key.key_id).code).toBe(0);
    const wrongKey = cli(bundle, '--key', '0123456789abcdef');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.out).toContain('not by the pinned key');

    const tampered: [string, (b: EvidenceBundle) => void, string][] = [
      ['a reason', (b) => (b.records[0]!.reason = 'nothing'), 'reason'],
      ['the evidence', (b) => (b.records[0]!.evidence_text = '{"form": "paper"}'), 'evidence'],
      ['a time', (b) => (b.records[1]!.recorded_at = '2020-01-01T00:00:00.000Z'), 'recorded_at'],
      ['a link', (b) => (b.chains![0]!.links[1]!.fields.actor = 'someone'), 'does not hash'],
      ['a removed link', (b) => b.chains![0]!.links.splice(2, 1), 'skips'],
      ['the identity key', (b) => (b.identity_key = 'ab'.repeat(32)), 'identity_key'],
      ['the signature', (b) => (b.checkpoint.signed_at = '2020-01-01T00:00:00.000Z'), 'signature'],
      ['the head', (b) => (b.checkpoint.head_hash = 'cd'.repeat(32)), 'signature'],
    ];
    for (const [what, change, message] of tampered) {
      const copy = JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
      change(copy);
      const r = cli(copy);
      expect({ what, code: r.code }).toEqual({ what, code: 1 });
      expect(r.out).toContain('NOT VERIFIED');
      expect(r.out).toContain(message);
    }
  });

  it('404 for an identity no record is about', async () => {
    const res = await api.get(`${newApp().base}/identities/46739999999:evidence`);
    expect(res.status).toBe(404);
  });
});

/**
 * Issue 9, item 1 (safe under concurrent writers, without making them wait for one another):
 * an app's trail is up to 8 chains ("lanes"); a transaction writes the first lane whose lock is
 * free. Verification, checkpoints and evidence bundles cover every lane.
 */
describe('audit chain lanes', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  let dir: string;
  const onPostgres = Boolean(process.env.DATABASE_URL);

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
    dir = mkdtempSync(path.join(os.tmpdir(), 'lanes-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  const optOut = (app: ReturnType<typeof newApp>, identity: string, list: string) =>
    api.put(`${app.base}/identities/${identity}/opt-outs/${list}`, { reason: `r ${identity}` });

  async function lanesOf(app: ReturnType<typeof newApp>) {
    return (await ds.query(
      `SELECT id::text AS id, chain_lane AS lane, chain_seq::text AS seq FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 ORDER BY id`,
      [app.projectId, app.appId],
    )) as { id: string; lane: number; seq: string }[];
  }

  async function asSuperuser(...statements: string[]): Promise<void> {
    await ds.transaction(async (m) => {
      await m.query(`ALTER TABLE consent_audit DISABLE TRIGGER USER`);
      for (const q of statements) await m.query(q);
      await m.query(`ALTER TABLE consent_audit ENABLE TRIGGER USER`);
    });
  }

  /** Re-hashes lane `lane` of the app in order, from the genesis hash, as the trigger would. */
  const rechain = (app: ReturnType<typeof newApp>, lane: number) => `
    DO $$ DECLARE r consent_audit; prev bytea := '\\x${'00'.repeat(32)}'::bytea; BEGIN
      FOR r IN SELECT * FROM consent_audit WHERE project_id = '${app.projectId}'
                 AND app_id = '${app.appId}' AND chain_lane = ${lane} ORDER BY chain_seq LOOP
        r.prev_hash := prev;
        r.hash := sha256(r.prev_hash || convert_to(consent_audit_canonical(r), 'UTF8'));
        UPDATE consent_audit SET prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        prev := r.hash;
      END LOOP; END $$`;

  it('a writer that finds lane 0 taken writes the next free lane, without waiting', async () => {
    const app = newApp();
    expect((await optOut(app, '46733000001', 'OPT_OUT_ALL')).status).toBe(200);
    if (!onPostgres) {
      // The embedded database is one backend: its writers take turns, every record is lane 0.
      const answers = await Promise.all(
        [2, 3, 4, 5].map((i) => optOut(app, `4673300000${i}`, 'OPT_OUT_ALL')),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect((await lanesOf(app)).map((r) => [r.lane, r.seq])).toEqual([
        [0, '1'],
        [0, '2'],
        [0, '3'],
        [0, '4'],
        [0, '5'],
      ]);
      return;
    }
    // Another transaction holds lane 0 (as a writer of the app does until its commit), then
    // lanes 0 and 1.
    const holder = ds.createQueryRunner();
    await holder.connect();
    const take = (lane: number) =>
      holder.query(
        `SELECT pg_advisory_xact_lock(hashtext('consent_audit_chain'),
                                      hashtext(consent_audit_lane_key($1, $2)))`,
        [`${app.projectId}/${app.appId}`, lane],
      );
    try {
      await holder.startTransaction();
      await take(0);
      expect((await optOut(app, '46733000002', 'OPT_OUT_ALL')).status).toBe(200);
      expect((await optOut(app, '46733000003', 'OPT_OUT_ALL')).status).toBe(200);
      await take(1);
      expect((await optOut(app, '46733000004', 'OPT_OUT_ALL')).status).toBe(200);
      await holder.rollbackTransaction();
    } finally {
      await holder.release();
    }
    expect((await optOut(app, '46733000005', 'OPT_OUT_ALL')).status).toBe(200);
    expect((await lanesOf(app)).map((r) => [r.lane, r.seq])).toEqual([
      [0, '1'],
      [1, '1'],
      [1, '2'],
      [2, '1'],
      [0, '2'],
    ]);
    const v = await api.get(`${app.base}/audit:verify`);
    expect(v.body).toMatchObject({ verified: true, records: 5 });
    expect((v.body as Verify).lanes!.map((l) => [l.lane, l.records])).toEqual([
      [0, 2],
      [1, 2],
      [2, 1],
    ]);
  });

  it('the periodic sweep signs an app whose lane other than 0 grew', async () => {
    const app = newApp();
    const toLane1 = (fromSeq: number, toSeq: number) =>
      asSuperuser(
        `UPDATE consent_audit SET chain_lane = 1, chain_seq = ${toSeq}
          WHERE project_id = '${app.projectId}' AND app_id = '${app.appId}'
            AND chain_lane = 0 AND chain_seq = ${fromSeq}`,
        rechain(app, 1),
      );
    expect((await optOut(app, '46735000001', 'OPT_OUT_ALL')).status).toBe(200);
    expect((await optOut(app, '46735000002', 'OPT_OUT_ALL')).status).toBe(200);
    await toLane1(2, 1);
    const service = t.app.get(AuditCheckpointService);
    const list = async () =>
      (await api.get(`${app.base}/audit-checkpoints`)).body.checkpoints as (Checkpoint & {
        lanes?: { lane: number; chain_seq: string }[];
      })[];
    await service.sweep();
    expect((await list()).map((c) => [c.chain_seq, c.lanes])).toEqual([
      ['1', [expect.objectContaining({ lane: 1, chain_seq: '1' })]],
    ]);
    await service.sweep();
    expect(await list()).toHaveLength(1);
    // Only lane 1 grows.
    expect((await optOut(app, '46735000003', 'OPT_OUT_ALL')).status).toBe(200);
    await toLane1(2, 2);
    await service.sweep();
    expect((await list()).map((c) => [c.chain_seq, c.lanes?.map((l) => l.chain_seq)])).toEqual([
      ['1', ['2']],
      ['1', ['1']],
    ]);
    expect((await api.get(`${app.base}/audit:verify`)).body).toMatchObject({
      verified: true,
      records: 3,
      checkpoints: 4,
    });
  });

  it('verifies, checkpoints and bundles a chain of several lanes, and detects tampering in any', async () => {
    const app = newApp();
    const me = '46734001111';
    expect((await optOut(app, me, 'OPT_OUT_MARKETING')).status).toBe(200);
    expect((await optOut(app, '46734002222', 'OPT_OUT_ALL')).status).toBe(200);
    const first = await api.post(`${app.base}/audit:checkpoint`);
    expect(first.status).toBe(201);
    expect(first.body.lanes).toBeUndefined();
    expect(first.body.signed_text).toMatch(/^\["consent-gate-checkpoint-v1"/);
    expect((await optOut(app, me, 'OPT_OUT_ALL')).status).toBe(200);
    expect((await optOut(app, '46734003333', 'OPT_OUT_ALL')).status).toBe(200);
    // The last two records as overlapping writers would have left them: in lane 1.
    await asSuperuser(
      `UPDATE consent_audit SET chain_lane = 1, chain_seq = chain_seq - 2
        WHERE project_id = '${app.projectId}' AND app_id = '${app.appId}' AND chain_seq > 2`,
      rechain(app, 1),
    );
    // The trigger goes on with lane 0 (free), after its head.
    expect((await optOut(app, me, 'OPT_OUT_NOTIFICATION')).status).toBe(200);
    const rows = await lanesOf(app);
    expect(rows.map((r) => [r.lane, r.seq])).toEqual([
      [0, '1'],
      [0, '2'],
      [1, '1'],
      [1, '2'],
      [0, '3'],
    ]);
    const verified = (await api.get(`${app.base}/audit:verify`)).body as Verify;
    expect(verified).toMatchObject({
      verified: true,
      records: 5,
      checkpoints: 1,
      head_record_id: rows[4]!.id,
    });
    expect(verified.lanes!.map((l) => [l.lane, l.records, l.head_record_id])).toEqual([
      [0, 3, rows[4]!.id],
      [1, 2, rows[3]!.id],
    ]);

    // A checkpoint signs every lane's head.
    const cp = await api.post(`${app.base}/audit:checkpoint`);
    expect(cp.status).toBe(201);
    expect(cp.body).toMatchObject({ chain_seq: '3', record_id: rows[4]!.id });
    expect(cp.body.lanes).toEqual([
      { lane: 1, chain_seq: '2', record_id: rows[3]!.id, head_hash: expect.any(String) },
    ]);
    const signed = JSON.parse(cp.body.signed_text) as unknown[];
    expect(signed[0]).toBe('consent-gate-checkpoint-v2');
    expect(signed[8]).toEqual([['1', '2', rows[3]!.id, cp.body.lanes[0].head_hash]]);
    const key = createPublicKey({
      key: Buffer.concat([
        Buffer.from('302a300506032b6570032100', 'hex'),
        Buffer.from(cp.body.public_key, 'base64'),
      ]),
      format: 'der',
      type: 'spki',
    });
    expect(
      cryptoVerify(
        null,
        Buffer.from(cp.body.signed_text),
        key,
        Buffer.from(cp.body.signature, 'base64'),
      ),
    ).toBe(true);

    // The evidence about `me` carries a segment of each lane holding its records.
    const res = await api.get(`${app.base}/identities/${me}:evidence`);
    expect(res.status).toBe(200);
    const bundle = res.body as EvidenceBundle;
    expect(bundle.records.map((r) => [r.chain_lane, r.chain_seq])).toEqual([
      [0, '1'],
      [0, '3'],
      [1, '1'],
    ]);
    expect(bundle.chains!.map((c) => [c.lane, c.links.map((l) => l.fields.chain_seq)])).toEqual([
      [0, ['1', '2', '3']],
      [1, ['1', '2']],
    ]);
    expect(checkEvidence(bundle).ok).toBe(true);
    const file = path.join(dir, 'lanes.json');
    writeFileSync(file, JSON.stringify(bundle));
    const ok = spawnSync(process.execPath, ['dist/src/scripts/verify-evidence.js', file], {
      encoding: 'utf8',
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('VERIFIED');
    expect(ok.stdout).toContain('of lane 1');
    const tampered: [string, (b: EvidenceBundle) => void, string][] = [
      ['a link of lane 1', (b) => (b.chains![1]!.links[1]!.fields.actor = 'x'), 'does not hash'],
      ['lane 1 dropped', (b) => b.chains!.splice(1, 1), 'not in the chain segments'],
      ['a record moved', (b) => (b.records[2]!.chain_lane = 0), 'is not what the chain holds'],
      ['a lane head', (b) => (b.checkpoint.lanes![0]!.head_hash = 'ab'.repeat(32)), 'signature'],
      ['a lane twice', (b) => b.chains!.push(b.chains![1]!), 'signs no head of lane 1'],
    ];
    for (const [what, change, message] of tampered) {
      const copy = JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
      change(copy);
      const r = checkEvidence(copy);
      expect({ what, ok: r.ok }).toEqual({ what, ok: false });
      expect({ what, problem: r.problems[0] }).toEqual({
        what,
        problem: expect.stringContaining(message),
      });
    }

    // Tampering with lane 1 in the database: named by verify.
    await asSuperuser(`UPDATE consent_audit SET reason = 'never' WHERE id = ${rows[2]!.id}`);
    expect((await api.get(`${app.base}/audit:verify`)).body).toMatchObject({
      verified: false,
      first_bad_record_id: rows[2]!.id,
    });
    await asSuperuser(
      `UPDATE consent_audit SET reason = 'r ${me}' WHERE id = ${rows[2]!.id}`,
      `DELETE FROM consent_audit WHERE id = ${rows[3]!.id}`,
    );
    expect((await api.get(`${app.base}/audit:verify`)).body).toMatchObject({
      verified: false,
      reason: expect.stringContaining('of lane 1, but the chain ends at 1: records were removed'),
    });
  });
});
