import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditCheckpointEntity } from './audit-checkpoint.entity.js';
import { escapeLiteral, type Pool } from 'pg';
import type { Readable } from 'node:stream';
import { copyOut } from '../database/copy-out.js';
import { PG_POOL } from '../database/database.module.js';
import type { AppRef } from '../kernel/app-ref.js';
import { CHAIN_COPY_COLUMNS } from './chain-copy.js';
import { AUDIT_CHAIN_LANES } from '../database/migrations/1765200000000-audit-chain-lanes.js';

/** service_secrets.name of the identity key's pads (migration 1764800000000). */
export const IDENTITY_KEY_SECRET = 'audit_identity_key_pads';

/**
 * The COPY of one lane of an app's chain in chain order (CHAIN_COPY_COLUMNS, binary format, which
 * chain-copy.ts reads), after position `afterSeq` and up to `upToSeq` when given
 * (bench/audit-chain.mjs runs it bare). The clear identity is checked against its keyed hash
 * here, where the key is.
 */
export function chainCopySql(app: AppRef, lane = 0, afterSeq?: bigint, upToSeq?: bigint): string {
  return `COPY (SELECT ${CHAIN_COPY_COLUMNS.join(', ')}
             FROM consent_audit a,
                  (SELECT decode(substr(value, 1, 128), 'hex') AS ipad,
                          decode(substr(value, 129, 128), 'hex') AS opad
                     FROM service_secrets WHERE name = ${escapeLiteral(IDENTITY_KEY_SECRET)}
                   -- OFFSET 0 keeps the subquery a subquery: pulled up into the join, its two
                   -- decode()s ran once per record (a third of the COPY's time).
                   OFFSET 0) k
            WHERE a.project_id = ${escapeLiteral(app.projectId)}
              AND a.app_id = ${escapeLiteral(app.appId)}
              AND a.chain_lane = ${Math.trunc(lane)}
              ${afterSeq === undefined ? '' : `AND a.chain_seq > ${afterSeq}`}
              ${upToSeq === undefined ? '' : `AND a.chain_seq <= ${upToSeq}`}
            ORDER BY a.chain_seq)
       TO STDOUT (FORMAT binary)`;
}

/** A lane's record at a position: its id and hash. */
export interface LanePosition {
  seq: bigint;
  hash: Buffer;
  recordId: string;
}

/** The hash chain's reads. */
@Injectable()
export class AuditChainRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * One lane of the app's chain in chain order (after position `afterSeq`), streamed by COPY
   * (binary: read it with chain-copy.ts's readChain).
   */
  copyChain(app: AppRef, lane: number, afterSeq?: bigint, upToSeq?: bigint): Promise<Readable> {
    return copyOut(this.pool, chainCopySql(app, lane, afterSeq, upToSeq));
  }

  /** The lanes the app's records are in, in order (a skip scan of consent_audit_chain_idx). */
  async lanesOf(app: AppRef): Promise<number[]> {
    const rows: { lane: number }[] = await this.dataSource.query(
      `WITH RECURSIVE l AS (
         (SELECT chain_lane AS lane FROM consent_audit WHERE project_id = $1 AND app_id = $2
           ORDER BY chain_lane LIMIT 1)
         UNION ALL
         SELECT (SELECT c.chain_lane FROM consent_audit c
                  WHERE c.project_id = $1 AND c.app_id = $2 AND c.chain_lane > l.lane
                  ORDER BY c.chain_lane LIMIT 1)
           FROM l WHERE l.lane IS NOT NULL
       )
       SELECT lane FROM l WHERE lane IS NOT NULL`,
      [app.projectId, app.appId],
    );
    return rows.map((r) => Number(r.lane));
  }

  /**
   * The earliest checkpoint that covers, in each lane given, the position given (its head in that
   * lane is at or after it), or null.
   */
  async checkpointCovering(
    app: AppRef,
    needs: ReadonlyMap<number, bigint>,
  ): Promise<AuditCheckpointEntity | null> {
    return this.dataSource
      .getRepository(AuditCheckpointEntity)
      .createQueryBuilder('c')
      .where('c.project_id = :p AND c.app_id = :a', { p: app.projectId, a: app.appId })
      .andWhere(
        `NOT EXISTS (
           SELECT 1 FROM unnest(CAST(:lanes AS int[]), CAST(:seqs AS bigint[])) n(lane, seq)
            WHERE n.seq > coalesce(CASE WHEN n.lane = 0 THEN c.chain_seq
                                        ELSE (SELECT (e->>'chain_seq')::bigint
                                                FROM jsonb_array_elements(c.lanes) e
                                               WHERE (e->>'lane')::int = n.lane) END, 0))`,
        {
          lanes: [...needs.keys()],
          seqs: [...needs.values()].map(String),
        },
      )
      .orderBy('c.id', 'ASC')
      .limit(1)
      .getOne();
  }

  /** The hash of the record before position `seq` of a lane (genesis for the first), hex. */
  async prevHashAt(app: AppRef, lane: number, seq: string): Promise<string | null> {
    const rows: { prev: string }[] = await this.dataSource.query(
      `SELECT encode(prev_hash, 'hex') AS prev FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 AND chain_lane = $3 AND chain_seq = $4`,
      [app.projectId, app.appId, lane, seq],
    );
    return rows[0]?.prev ?? null;
  }

  /**
   * An identity's records as the evidence shows them: id, position, keyed hash, evidence as its
   * stored jsonb text (what the chain's digest covers), and for an erased record the kept digests
   * of its removed reason and evidence, in chain order.
   */
  async identityChainRecords(
    app: AppRef,
    identity: string,
  ): Promise<
    {
      id: string;
      chain_lane: number;
      chain_seq: string;
      identity_key: string;
      evidence_text: string | null;
      reason_sha256: string | null;
      evidence_sha256: string | null;
    }[]
  > {
    return this.dataSource.query(
      `SELECT id::text AS id, chain_lane::int AS chain_lane, chain_seq::text AS chain_seq,
              encode(identity_key, 'hex') AS identity_key, evidence::text AS evidence_text,
              encode(reason_digest, 'hex') AS reason_sha256,
              encode(evidence_digest, 'hex') AS evidence_sha256
         FROM consent_audit WHERE project_id = $1 AND app_id = $2 AND identity = $3
        ORDER BY chain_lane, chain_seq`,
      [app.projectId, app.appId, identity],
    );
  }

  /**
   * Runs `work` while holding the checkpoint sweep's session advisory lock on a connection of its
   * own; another instance already holding it: `busy` at once.
   */
  async withSweepLock<T>(work: () => Promise<T>, busy: T): Promise<T> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(hashtext('consent_gate_checkpoint_sweep')) AS ok`,
      );
      if (!rows[0]?.ok) return busy;
      try {
        return await work();
      } finally {
        await client.query(`SELECT pg_advisory_unlock(hashtext('consent_gate_checkpoint_sweep'))`);
      }
    } finally {
      client.release();
    }
  }

  /** The app's checkpoints, oldest first (few: one per interval at most). */
  async checkpoints(app: AppRef): Promise<AuditCheckpointEntity[]> {
    return this.dataSource.getRepository(AuditCheckpointEntity).find({
      where: { project_id: app.projectId, app_id: app.appId },
      order: { id: 'ASC' },
    });
  }

  /** The id and hash of the app's record at position `seq` of a lane, or null. */
  async recordAt(
    app: AppRef,
    lane: number,
    seq: string,
  ): Promise<{ id: string; hash: Buffer } | null> {
    const rows: { id: string; hash: Buffer }[] = await this.dataSource.query(
      `SELECT id::text AS id, hash FROM consent_audit
        WHERE project_id = $1 AND app_id = $2 AND chain_lane = $3 AND chain_seq = $4`,
      [app.projectId, app.appId, lane, seq],
    );
    return rows[0] ?? null;
  }

  /** The app's latest checkpoint, or null. */
  async latestCheckpoint(app: AppRef): Promise<AuditCheckpointEntity | null> {
    return this.dataSource.getRepository(AuditCheckpointEntity).findOne({
      where: { project_id: app.projectId, app_id: app.appId },
      order: { id: 'DESC' },
    });
  }

  /** A page of the app's checkpoints, newest first, before checkpoint id `beforeId`. */
  async checkpointPage(
    app: AppRef,
    limit: number,
    beforeId?: string,
  ): Promise<AuditCheckpointEntity[]> {
    const q = this.dataSource
      .getRepository(AuditCheckpointEntity)
      .createQueryBuilder('c')
      .where('c.project_id = :p AND c.app_id = :a', { p: app.projectId, a: app.appId });
    if (beforeId !== undefined) q.andWhere('c.id < :beforeId', { beforeId });
    return q.orderBy('c.id', 'DESC').limit(limit).getMany();
  }

  async saveCheckpoint(c: Omit<AuditCheckpointEntity, 'id'>): Promise<AuditCheckpointEntity> {
    const rows: { id: string }[] = await this.dataSource.query(
      `INSERT INTO audit_checkpoints (project_id, app_id, record_id, chain_seq, head_hash,
         signed_at, key_id, public_key, signature, lanes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id::text AS id`,
      [
        c.project_id,
        c.app_id,
        c.record_id,
        c.chain_seq,
        c.head_hash,
        c.signed_at,
        c.key_id,
        c.public_key,
        c.signature,
        c.lanes === null ? null : JSON.stringify(c.lanes),
      ],
    );
    return { ...c, id: rows[0]!.id };
  }

  /**
   * The apps whose chain has records after their latest checkpoint (or that have none), for the
   * periodic checkpoints: the distinct apps of consent_audit by a skip scan of
   * consent_audit_chain_idx, each lane's head position against the checkpoint's.
   */
  async appsToCheckpoint(): Promise<AppRef[]> {
    const rows: { project_id: string; app_id: string }[] = await this.dataSource.query(`
      WITH RECURSIVE apps AS (
        (SELECT project_id, app_id FROM consent_audit ORDER BY project_id, app_id LIMIT 1)
        UNION ALL
        SELECT n.project_id, n.app_id FROM apps a CROSS JOIN LATERAL (
          SELECT c.project_id, c.app_id FROM consent_audit c
           WHERE (c.project_id, c.app_id) > (a.project_id, a.app_id)
           ORDER BY c.project_id, c.app_id LIMIT 1) n
      )
      SELECT a.project_id, a.app_id FROM apps a
        LEFT JOIN LATERAL (
          SELECT k.chain_seq, k.lanes FROM audit_checkpoints k
           WHERE k.project_id = a.project_id AND k.app_id = a.app_id
           ORDER BY k.id DESC LIMIT 1) k ON true
       WHERE EXISTS (
         SELECT 1 FROM generate_series(0, ${AUDIT_CHAIN_LANES - 1}) l
          WHERE (SELECT max(c.chain_seq) FROM consent_audit c
                  WHERE c.project_id = a.project_id AND c.app_id = a.app_id AND c.chain_lane = l)
                > coalesce(CASE WHEN l = 0 THEN k.chain_seq
                                ELSE (SELECT (e->>'chain_seq')::bigint
                                        FROM jsonb_array_elements(k.lanes) e
                                       WHERE (e->>'lane')::int = l) END, 0))`);
    return rows.map((r) => ({ projectId: r.project_id, appId: r.app_id }));
  }
}
