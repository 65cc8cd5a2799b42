import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppRef } from '../kernel/app-ref.js';

/** What an erasure rewrote or removed, table by table (the answer's `removed`). */
export interface ErasureCounts {
  consent_states: number;
  audit_records: number;
  send_attempts: number;
  webhook_deliveries: number;
  jobs: number;
  contact_identities: number;
  import_rows: number;
}

/**
 * The one place that knows every table that can hold an identity in clear (a test reads every
 * table after an erasure and finds none). All in the caller's transaction, in this order:
 * rewritten by the erased form (`erased:<key>`, so that the suppression and the trail stay):
 * consent_state, consent_audit (reason and evidence replaced by their digests), send_attempts,
 * webhook_deliveries (details removed); removed: contact_identities, the app's queued and finished
 * jobs that name it (confirmation replies, callbacks), and staged import rows (each recorded as a
 * rejected row of its import, without the value).
 */
@Injectable()
export class ErasureRepository {
  /** The identity's keyed hash (the audit chain's identity_key, hex). */
  async identityKey(tx: EntityManager, identity: string): Promise<string> {
    const rows: { key: string }[] = await tx.query(
      `SELECT encode(consent_audit_identity_key($1), 'hex') AS key`,
      [identity],
    );
    return rows[0]!.key;
  }

  /**
   * Waits for the changes in flight on this identity (its state rows, locked), then takes the
   * app's audit chain locks, every lane's in lane order (held to commit): a change planned before
   * the erasure and written after it is refused by the chain trigger and planned again by the
   * erased form.
   */
  async lock(tx: EntityManager, app: AppRef, identity: string): Promise<void> {
    await tx.query(
      `SELECT 1 FROM consent_state WHERE project_id = $1 AND app_id = $2 AND identity = $3
          FOR UPDATE`,
      [app.projectId, app.appId, identity],
    );
    await tx.query(`SELECT consent_audit_chain_lock_all($1, $2)`, [app.projectId, app.appId]);
  }

  /** Whether anything about the identity is stored in the app, in clear or erased. */
  async anythingAbout(
    tx: EntityManager,
    app: AppRef,
    identity: string,
    erased: string,
  ): Promise<boolean> {
    const rows: { found: boolean }[] = await tx.query(
      `SELECT EXISTS (SELECT 1 FROM consent_audit WHERE project_id = $1 AND app_id = $2
                         AND identity IN ($3, $4))
           OR EXISTS (SELECT 1 FROM consent_state WHERE project_id = $1 AND app_id = $2
                         AND identity IN ($3, $4))
           OR EXISTS (SELECT 1 FROM send_attempts WHERE project_id = $1 AND app_id = $2
                         AND identity = $3)
           OR EXISTS (SELECT 1 FROM webhook_deliveries WHERE identity = $3 AND project_id = $1
                         AND app_id = $2)
           OR EXISTS (SELECT 1 FROM contact_identities WHERE project_id = $1 AND app_id = $2
                         AND identity = $3) AS found`,
      [app.projectId, app.appId, identity, erased],
    );
    return rows[0]!.found;
  }

  /** Records the erasure (the first one of the identity is kept); false when it was already. */
  async recordErasure(
    tx: EntityManager,
    app: AppRef,
    key: string,
    auditRecordId: string,
  ): Promise<{ first: boolean; erasedAt: Date }> {
    const inserted: { erased_at: Date }[] = await tx.query(
      `INSERT INTO identity_erasures (project_id, app_id, identity_key, audit_record_id)
       VALUES ($1, $2, decode($3, 'hex'), $4)
       ON CONFLICT (project_id, app_id, identity_key) DO NOTHING
       RETURNING erased_at`,
      [app.projectId, app.appId, key, auditRecordId],
    );
    if (inserted.length > 0) return { first: true, erasedAt: inserted[0]!.erased_at };
    const rows: { erased_at: Date }[] = await tx.query(
      `SELECT erased_at FROM identity_erasures
        WHERE project_id = $1 AND app_id = $2 AND identity_key = decode($3, 'hex')`,
      [app.projectId, app.appId, key],
    );
    return { first: false, erasedAt: rows[0]!.erased_at };
  }

  /** Rewrites and removes everything about the identity in clear (see the class). */
  async eraseEverywhere(
    tx: EntityManager,
    app: AppRef,
    identity: string,
    erased: string,
  ): Promise<ErasureCounts> {
    const p = [app.projectId, app.appId, identity, erased];
    const count = async (sql: string, params: unknown[] = p): Promise<number> => {
      const rows: { n: number }[] = await tx.query(sql, params);
      return Number(rows[0]?.n ?? 0);
    };
    const consent_states = await count(
      `WITH u AS (UPDATE consent_state SET identity = $4, updated_at = now()
                   WHERE project_id = $1 AND app_id = $2 AND identity = $3 RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
    );
    // Evidence the service wrote itself about a repaired event time (no free text) is kept: the
    // point-in-time check reads it.
    const audit_records = await count(
      `WITH u AS (
         UPDATE consent_audit
            SET identity = $4, reason = NULL,
                reason_digest = sha256(convert_to(reason, 'UTF8')),
                evidence = CASE WHEN kind = 'EVENT_TIME_REPAIRED' THEN evidence END,
                evidence_digest = CASE WHEN kind = 'EVENT_TIME_REPAIRED' THEN NULL
                                       ELSE sha256(convert_to(evidence::text, 'UTF8')) END
          WHERE project_id = $1 AND app_id = $2 AND identity = $3 RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
    );
    const send_attempts = await count(
      `WITH u AS (UPDATE send_attempts SET identity = $4
                   WHERE project_id = $1 AND app_id = $2 AND identity = $3 RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
    );
    const webhook_deliveries = await count(
      `WITH u AS (UPDATE webhook_deliveries SET identity = $4, details = NULL
                   WHERE identity = $3 AND project_id = $1 AND app_id = $2 RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
    );
    const contact_identities = await count(
      `WITH d AS (DELETE FROM contact_identities
                   WHERE project_id = $1 AND app_id = $2 AND identity = $3 RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      p.slice(0, 3),
    );
    // A job names the identity somewhere in its payload (normalised, as Sinch sent it with '+',
    // or inside a callback's serialised body): any occurrence not inside a longer word or number.
    const escaped = identity.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const jobs = await count(
      `WITH d AS (DELETE FROM outbox_jobs
                   WHERE project_id = $1 AND app_id = $2 AND payload::text ~ $3
                   RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [app.projectId, app.appId, `(^|[^0-9A-Za-z])${escaped}([^0-9A-Za-z]|$)`],
    );
    // Staged rows of the app's imports (not applied yet): removed and counted as rejected, so
    // that the import's counts still add up; the cursor of an import that stopped at the
    // identity is reset (every staged row left is unapplied: applied chunks are deleted).
    const import_rows = await count(
      `WITH d AS (
         DELETE FROM import_rows r USING imports i
          WHERE r.import_id = i.import_id AND i.project_id = $1 AND i.app_id = $2
            AND r.identity = $3
         RETURNING r.import_id, r.line
       ), e AS (
         INSERT INTO import_errors (import_id, line, field, description)
         SELECT import_id, line, 'identity', 'row removed by an erasure of its identity'
           FROM d
         ON CONFLICT (import_id, line) DO NOTHING
       ), c AS (
         UPDATE imports i SET rejected = i.rejected + n.n
           FROM (SELECT import_id, count(*)::int AS n FROM d GROUP BY import_id) n
          WHERE i.import_id = n.import_id
       )
       SELECT count(*)::int AS n FROM d`,
      [app.projectId, app.appId, identity],
    );
    await tx.query(
      `UPDATE imports SET cursor_identity = '', cursor_list_type = '', cursor_line = 0
        WHERE project_id = $1 AND app_id = $2 AND cursor_identity = $3`,
      [app.projectId, app.appId, identity],
    );
    return {
      consent_states,
      audit_records,
      send_attempts,
      webhook_deliveries,
      jobs,
      contact_identities,
      import_rows,
    };
  }
}
