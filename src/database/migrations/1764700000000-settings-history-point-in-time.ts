import { MigrationInterface, QueryRunner } from 'typeorm';

const KINDS_BEFORE = [
  'CONSENT_CHANGE',
  'DELIVERY_REFUSED',
  'REPLY_SENT',
  'REPLY_FAILED',
  'EVENT_TIME_REPAIRED',
  'REPLY_IN_DOUBT',
];
const kindCheck = (kinds: string[]) =>
  `ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check
     CHECK (kind IN (${kinds.map((k) => `'${k}'`).join(', ')}))`;

/**
 * Settings history and the point-in-time check:
 * - the audit kind SETTINGS_CHANGE (one record per settings change: the settings after it, never
 *   a secret), about an app, not an identity: consent_audit.identity becomes nullable for that
 *   kind only (consent_audit_identity_check);
 * - one SETTINGS_CHANGE record per existing app_settings row, reconstructed from the row as it
 *   stands (event_time and recorded_at = its updated_at, actor "consent-gate", previous_mode
 *   null): what an app's settings were before that is unknown;
 * - consent_audit_state_change_idx: the records that set a list's state (applied consent changes
 *   and event-time repairs), by identity and list in id order, covering operation and
 *   recorded_at, so that `consents:check` with `at` reads the latest one per identity and list
 *   from the index alone (see AuditRepository.optOutsRecordedBy).
 */
export class SettingsHistoryPointInTime1764700000000 implements MigrationInterface {
  name = 'SettingsHistoryPointInTime1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(kindCheck([...KINDS_BEFORE, 'SETTINGS_CHANGE']));
    await q.query(`ALTER TABLE consent_audit ALTER COLUMN identity DROP NOT NULL`);
    await q.query(`
      ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_identity_check
        CHECK (identity IS NOT NULL OR kind = 'SETTINGS_CHANGE')`);
    await q.query(`
      INSERT INTO consent_audit
        (kind, project_id, app_id, identity, actor, reason, evidence, event_time, recorded_at)
      SELECT 'SETTINGS_CHANGE', s.project_id, s.app_id, NULL, 'consent-gate',
             'reconstructed by migration ${this.name} from the stored settings as of their last change (updated_at); earlier changes are unknown',
             jsonb_build_object(
               'mode', s.mode,
               'matching_profile', s.matching_profile,
               'auto_reply', s.auto_reply,
               'reply_languages', coalesce(
                 (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(s.replies) AS k), '[]'),
               'webhook_secrets_count', coalesce(cardinality(s.webhook_secrets), 0),
               'previous_mode', NULL,
               'changed', '[]'::jsonb,
               'migration', '${this.name}'),
             s.updated_at, s.updated_at
        FROM app_settings s
       ORDER BY s.updated_at, s.project_id, s.app_id`);
    await q.query(`
      CREATE INDEX consent_audit_state_change_idx
          ON consent_audit (project_id, app_id, identity, list_type, id)
             INCLUDE (operation, recorded_at)
       WHERE (kind = 'CONSENT_CHANGE' AND outcome = 'APPLIED') OR kind = 'EVENT_TIME_REPAIRED'`);
  }

  /**
   * The old schema cannot hold records without an identity: the SETTINGS_CHANGE records are
   * deleted (the append-only trigger is suspended for that statement only, inside the
   * migration's transaction), as 1764100000000 does.
   */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX consent_audit_state_change_idx`);
    await q.query(`ALTER TABLE consent_audit DISABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`DELETE FROM consent_audit WHERE kind = 'SETTINGS_CHANGE'`);
    await q.query(`ALTER TABLE consent_audit ENABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_identity_check`);
    await q.query(`ALTER TABLE consent_audit ALTER COLUMN identity SET NOT NULL`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(kindCheck(KINDS_BEFORE));
  }
}
