import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signed checkpoints of the audit hash chain (see src/audit/audit-checkpoint.service.ts): one row
 * per checkpoint, the chain head it signs (record id, position, hash), when and with which
 * Ed25519 key (key id and public key, so that a checkpoint stays checkable after a key rotation),
 * and the signature over the canonical checkpoint text (domain/checkpoint.ts). Append-only like
 * the audit trail (the same reject_mutation trigger).
 */
export class AuditCheckpoints1764900000000 implements MigrationInterface {
  name = 'AuditCheckpoints1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_checkpoints (
        id bigint GENERATED ALWAYS AS IDENTITY,
        project_id varchar(64) NOT NULL,
        app_id varchar(64) NOT NULL,
        record_id bigint NOT NULL,
        chain_seq bigint NOT NULL,
        head_hash bytea NOT NULL,
        signed_at timestamptz NOT NULL,
        key_id varchar(64) NOT NULL,
        public_key bytea NOT NULL,
        signature bytea NOT NULL,
        CONSTRAINT audit_checkpoints_pk PRIMARY KEY (id)
      )`);
    await q.query(`
      CREATE INDEX audit_checkpoints_app_idx ON audit_checkpoints (project_id, app_id, id)`);
    await q.query(`
      CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_checkpoints`);
  }
}
