import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The initial schema. SQL is kept to what PostgreSQL 15 (servers) and 18 (PGlite) both accept.
 */
export class InitialSchema1763800000000 implements MigrationInterface {
  name = 'InitialSchema1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE app_settings (
        project_id varchar(64) NOT NULL,
        app_id     varchar(64) NOT NULL,
        mode       varchar(16) NOT NULL CHECK (mode IN ('PRIMARY', 'SECONDARY')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT app_settings_pk PRIMARY KEY (project_id, app_id)
      )`);
    await q.query(`
      CREATE TABLE consent_state (
        project_id      varchar(64)  NOT NULL,
        app_id          varchar(64)  NOT NULL,
        identity        varchar(256) NOT NULL,
        list_type       varchar(32)  NOT NULL
          CHECK (list_type IN ('OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION')),
        opted_out       boolean      NOT NULL,
        since           timestamptz  NOT NULL,
        origin          varchar(16)  NOT NULL,
        last_event_time timestamptz  NOT NULL,
        updated_at      timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT consent_state_pk PRIMARY KEY (project_id, app_id, identity, list_type)
      )`);
    await q.query(`
      CREATE INDEX consent_state_list_idx
        ON consent_state (project_id, app_id, list_type, identity) WHERE opted_out`);
    await q.query(`
      CREATE TABLE consent_audit (
        id          bigint GENERATED ALWAYS AS IDENTITY,
        project_id  varchar(64)  NOT NULL,
        app_id      varchar(64)  NOT NULL,
        identity    varchar(256) NOT NULL,
        list_type   varchar(32)  NOT NULL,
        origin      varchar(16)  NOT NULL,
        operation   varchar(24)  NOT NULL,
        outcome     varchar(16)  NOT NULL,
        actor       varchar(128) NOT NULL,
        reason      varchar(500),
        evidence    jsonb,
        batch_id    varchar(64),
        event_time  timestamptz  NOT NULL,
        recorded_at timestamptz  NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT consent_audit_pk PRIMARY KEY (id)
      )`);
    await q.query(`
      CREATE INDEX consent_audit_identity_idx ON consent_audit (project_id, app_id, identity, id)`);
    await q.query(`
      CREATE FUNCTION reject_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    await q.query(`
      CREATE TRIGGER consent_audit_no_update_delete BEFORE UPDATE OR DELETE ON consent_audit
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      CREATE TRIGGER consent_audit_no_truncate BEFORE TRUNCATE ON consent_audit
        FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      CREATE TABLE api_keys (
        id          varchar(40)  NOT NULL,
        name        varchar(100) NOT NULL,
        scopes      text[]       NOT NULL,
        secret_hash char(64)     NOT NULL,
        created_by  varchar(128) NOT NULL,
        created_at  timestamptz  NOT NULL DEFAULT now(),
        revoked_at  timestamptz,
        CONSTRAINT api_keys_pk PRIMARY KEY (id),
        CONSTRAINT api_keys_secret_hash_uq UNIQUE (secret_hash)
      )`);
    await q.query(`
      CREATE TABLE service_secrets (
        name       varchar(64) NOT NULL,
        value      text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT service_secrets_pk PRIMARY KEY (name)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE service_secrets`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE consent_audit`);
    await q.query(`DROP FUNCTION reject_mutation()`);
    await q.query(`DROP TABLE consent_state`);
    await q.query(`DROP TABLE app_settings`);
  }
}
