import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What bulk import and export need of the consent tables:
 * - consent_audit.import_id and consent_audit.source: a change made by an import names the import
 *   and the source its row gave (e.g. "twilio"); null for every other change.
 * - consent_state.audit_record_id: the audit record of the change that put the row in its current
 *   state (the latest APPLIED change; for a row created by a no-op opt-in, that record), so that an
 *   export names the proof of every entry without a join; and consent_state.source, that change's
 *   source. Existing rows are backfilled from the audit trail (the latest APPLIED change of each
 *   key, else its first change: the one that created the row); their source stays null (no earlier change had one).
 */
/**
 * Names the deciding audit record of every row: its latest APPLIED change, else its first change
 * (the one that created it). `oneProject`: only the rows of project $1 (for its test, on a shared
 * database).
 */
export const backfillDeciders = (
  oneProject = false,
) => `      UPDATE consent_state s SET audit_record_id = a.id
        FROM (SELECT DISTINCT ON (project_id, app_id, identity, list_type)
                     project_id, app_id, identity, list_type, id
                FROM consent_audit
               WHERE kind = 'CONSENT_CHANGE'
               ORDER BY project_id, app_id, identity, list_type,
                        (outcome = 'APPLIED') DESC,
                        CASE WHEN outcome = 'APPLIED' THEN id END DESC, id) a
       WHERE s.project_id = a.project_id AND s.app_id = a.app_id
         AND s.identity = a.identity AND s.list_type = a.list_type
         ${oneProject ? 'AND s.project_id = $1 AND a.project_id = $1' : ''}`;

export class ImportExportCore1764500000000 implements MigrationInterface {
  name = 'ImportExportCore1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE consent_audit ADD COLUMN import_id varchar(26)`);
    await q.query(`ALTER TABLE consent_audit ADD COLUMN source varchar(128)`);
    await q.query(`ALTER TABLE consent_state ADD COLUMN audit_record_id bigint`);
    await q.query(`ALTER TABLE consent_state ADD COLUMN source varchar(128)`);
    await q.query(backfillDeciders());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE consent_state DROP COLUMN source`);
    await q.query(`ALTER TABLE consent_state DROP COLUMN audit_record_id`);
    await q.query(`ALTER TABLE consent_audit DROP COLUMN source`);
    await q.query(`ALTER TABLE consent_audit DROP COLUMN import_id`);
  }
}
