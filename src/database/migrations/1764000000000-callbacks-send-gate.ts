import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Callback subscriptions and their delivery log; the send gate's record of attempts and the
 * identities seen per Sinch contact.
 */
export class CallbacksSendGate1764000000000 implements MigrationInterface {
  name = 'CallbacksSendGate1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE callback_subscriptions (
        id         varchar(26)   NOT NULL,
        project_id varchar(64)   NOT NULL,
        app_id     varchar(64)   NOT NULL,
        target_url varchar(2048) NOT NULL,
        secret     text          NOT NULL,
        triggers   text[]        NOT NULL,
        created_at timestamptz   NOT NULL DEFAULT now(),
        updated_at timestamptz   NOT NULL DEFAULT now(),
        CONSTRAINT callback_subscriptions_pk PRIMARY KEY (id)
      )`);
    await q.query(
      `CREATE INDEX callback_subscriptions_app_idx ON callback_subscriptions (project_id, app_id)`,
    );
    await q.query(`
      CREATE TABLE callback_deliveries (
        id              bigint GENERATED ALWAYS AS IDENTITY,
        subscription_id varchar(26)  NOT NULL,
        job_id          bigint       NOT NULL,
        event_id        varchar(26)  NOT NULL,
        trigger         varchar(32)  NOT NULL,
        attempt         integer      NOT NULL,
        outcome         varchar(16)  NOT NULL,
        http_status     integer,
        error           varchar(500),
        duration_ms     integer      NOT NULL,
        attempted_at    timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT callback_deliveries_pk PRIMARY KEY (id)
      )`);
    await q.query(
      `CREATE INDEX callback_deliveries_subscription_idx ON callback_deliveries (subscription_id, id)`,
    );
    await q.query(`CREATE SEQUENCE callback_event_seq`);
    await q.query(`
      CREATE TABLE contact_identities (
        project_id   varchar(64)  NOT NULL,
        app_id       varchar(64)  NOT NULL,
        contact_id   varchar(64)  NOT NULL,
        channel      varchar(32)  NOT NULL,
        identity     varchar(256) NOT NULL,
        last_seen_at timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT contact_identities_pk PRIMARY KEY (project_id, app_id, contact_id, channel, identity)
      )`);
    await q.query(`
      CREATE TABLE send_attempts (
        id                   bigint GENERATED ALWAYS AS IDENTITY,
        project_id           varchar(64)  NOT NULL,
        app_id               varchar(64)  NOT NULL,
        identity             varchar(256) NOT NULL,
        channel              varchar(32),
        message_content_type varchar(32)  NOT NULL,
        decision             varchar(24)  NOT NULL,
        lists                text[]       NOT NULL,
        actor                varchar(128) NOT NULL,
        correlation_id       varchar(128),
        created_at           timestamptz  NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT send_attempts_pk PRIMARY KEY (id)
      )`);
    await q.query(
      `CREATE INDEX send_attempts_identity_idx ON send_attempts (project_id, app_id, identity, id)`,
    );
    // reject_mutation() comes from the initial schema (it guards consent_audit too).
    await q.query(`
      CREATE TRIGGER send_attempts_no_update_delete BEFORE UPDATE OR DELETE ON send_attempts
        FOR EACH ROW EXECUTE FUNCTION reject_mutation()`);
    await q.query(`
      CREATE TRIGGER send_attempts_no_truncate BEFORE TRUNCATE ON send_attempts
        FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE send_attempts`);
    await q.query(`DROP TABLE contact_identities`);
    await q.query(`DROP SEQUENCE callback_event_seq`);
    await q.query(`DROP TABLE callback_deliveries`);
    await q.query(`DROP TABLE callback_subscriptions`);
  }
}
