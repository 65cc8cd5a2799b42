import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail holds more than consent changes: refused deliveries and the outcome of each
 * confirmation reply (consent_audit.kind). Only consent changes must carry list_type, origin,
 * operation and outcome; a reply record may carry the list of its keyword.
 */
export class AuditTrailEvents1764100000000 implements MigrationInterface {
  name = 'AuditTrailEvents1764100000000';

  async up(q: QueryRunner): Promise<void> {
    // A constant default: existing rows get it without a rewrite (and no row trigger fires).
    await q.query(`
      ALTER TABLE consent_audit
        ADD COLUMN kind varchar(24) NOT NULL DEFAULT 'CONSENT_CHANGE',
        ALTER COLUMN list_type DROP NOT NULL,
        ALTER COLUMN origin DROP NOT NULL,
        ALTER COLUMN operation DROP NOT NULL,
        ALTER COLUMN outcome DROP NOT NULL`);
    await q.query(`
      ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check
        CHECK (kind IN ('CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'REPLY_FAILED'))`);
    await q.query(`
      ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_consent_change_check
        CHECK (kind <> 'CONSENT_CHANGE' OR (list_type IS NOT NULL AND origin IS NOT NULL
               AND operation IS NOT NULL AND outcome IS NOT NULL))`);
  }

  /**
   * The old schema cannot hold the new kinds of records: reverting deletes them (the
   * append-only trigger is suspended for that statement only, inside the migration's
   * transaction). Consent changes are kept.
   */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE consent_audit DISABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`DELETE FROM consent_audit WHERE kind <> 'CONSENT_CHANGE'`);
    await q.query(`ALTER TABLE consent_audit ENABLE TRIGGER consent_audit_no_update_delete`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_consent_change_check`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(`
      ALTER TABLE consent_audit
        ALTER COLUMN list_type SET NOT NULL,
        ALTER COLUMN origin SET NOT NULL,
        ALTER COLUMN operation SET NOT NULL,
        ALTER COLUMN outcome SET NOT NULL,
        DROP COLUMN kind`);
  }
}
