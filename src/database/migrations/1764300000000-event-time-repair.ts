import { MigrationInterface, QueryRunner } from 'typeorm';

const KINDS_BEFORE = `'CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'REPLY_FAILED'`;
const KINDS = `${KINDS_BEFORE}, 'EVENT_TIME_REPAIRED'`;
/** ISO-8601 in UTC with milliseconds, as the API writes times (also inside evidence JSON). */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Event times are never later than their arrival (src/consent/domain/event-time.ts); before,
 * a claimed time in the future was stored as it was and outranked every later change (a STOP
 * after a START dated 2999 was SUPERSEDED for ever). This migration:
 * - adds consent_audit.claimed_event_time (the claim, when a change's time was clamped);
 * - adds the audit kind EVENT_TIME_REPAIRED;
 * - repairs every consent_state row whose last_event_time (or since) lies after the migration's
 *   now(): set to updated_at, when the row was last written, i.e. the arrival of the change that
 *   set that time, which is what the rule stores now (now() only if updated_at were ahead too).
 *   A change SUPERSEDED only because of that future time (a STOP after a START dated 2999: its
 *   own time, never later than its recording, is not before the row was written) would apply
 *   under the rule: the newest such change is applied (state, since, origin, its time). No
 *   callback or reply is sent for it. Each repair appends one EVENT_TIME_REPAIRED record (the
 *   audit table is INSERT only), the old state and the re-applied record's id as evidence.
 * Re-runnable (the e2e test runs up() again, in a transaction it rolls back).
 */
export class EventTimeRepair1764300000000 implements MigrationInterface {
  name = 'EventTimeRepair1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE consent_audit ADD COLUMN IF NOT EXISTS claimed_event_time timestamptz NULL`,
    );
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT IF EXISTS consent_audit_kind_check`);
    await q.query(
      `ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check CHECK (kind IN (${KINDS}))`,
    );
    await q.query(`
      WITH future AS (
        SELECT project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin,
               least(updated_at, now()) AS written
          FROM consent_state
         WHERE last_event_time > now() OR since > now()
           FOR UPDATE
      ), plan AS (
        -- The newest change superseded only because of the future time (its own time, never
        -- later than its recording, is not before the row was written): the rule now applies it.
        SELECT f.*, r.id AS replay_id, r.wants_opted_out, r.at AS replay_at, r.origin AS replay_origin,
               r.wants_opted_out IS NOT NULL AND r.wants_opted_out <> f.opted_out AS flips
          FROM future f
          LEFT JOIN LATERAL (
            SELECT a.id, a.operation <> 'OPERATION_DELETE' AS wants_opted_out, a.origin,
                   least(a.event_time, a.recorded_at) AS at
              FROM consent_audit a
             WHERE a.project_id = f.project_id AND a.app_id = f.app_id
               AND a.identity = f.identity AND a.list_type = f.list_type
               AND a.kind = 'CONSENT_CHANGE' AND a.outcome = 'SUPERSEDED'
               AND least(a.event_time, a.recorded_at) >= f.written
             ORDER BY least(a.event_time, a.recorded_at) DESC, a.id DESC
             LIMIT 1
          ) r ON true
      ), repaired AS (
        UPDATE consent_state s
           SET opted_out = coalesce(p.wants_opted_out, p.opted_out),
               last_event_time = coalesce(p.replay_at, p.written),
               since = CASE WHEN p.flips THEN p.replay_at ELSE least(p.since, p.written) END,
               origin = CASE WHEN p.flips THEN p.replay_origin ELSE p.origin END,
               updated_at = now()
          FROM plan p
         WHERE s.project_id = p.project_id AND s.app_id = p.app_id
           AND s.identity = p.identity AND s.list_type = p.list_type
        RETURNING s.project_id, s.app_id, s.identity, s.list_type, s.opted_out, s.since,
                  s.last_event_time, p.opted_out AS old_opted_out, p.since AS old_since,
                  p.last_event_time AS old_last_event_time, p.replay_id
      )
      INSERT INTO consent_audit
        (kind, project_id, app_id, identity, list_type, actor, reason, evidence, event_time,
         claimed_event_time)
      SELECT 'EVENT_TIME_REPAIRED', project_id, app_id, identity, list_type, 'consent-gate',
             'stored event time was in the future: set to when its change was recorded',
             jsonb_build_object(
               'migration', '${this.name}',
               'previous_opted_out', old_opted_out,
               'previous_since', ${iso('old_since')},
               'previous_last_event_time', ${iso('old_last_event_time')},
               'opted_out', opted_out,
               'since', ${iso('since')},
               'last_event_time', ${iso('last_event_time')},
               'reapplied_audit_record_id', replay_id::text),
             last_event_time, old_last_event_time
        FROM repaired`);
  }

  /**
   * The repaired times are not set back (that would lock opt-outs out again). The old schema
   * cannot hold the repair records: they are deleted (the append-only trigger is suspended for
   * that statement only, inside the migration's transaction), as 1764100000000 does.
   */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE consent_audit DISABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`DELETE FROM consent_audit WHERE kind = 'EVENT_TIME_REPAIRED'`);
    await q.query(`ALTER TABLE consent_audit ENABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(
      `ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check CHECK (kind IN (${KINDS_BEFORE}))`,
    );
    await q.query(`ALTER TABLE consent_audit DROP COLUMN claimed_event_time`);
  }
}
