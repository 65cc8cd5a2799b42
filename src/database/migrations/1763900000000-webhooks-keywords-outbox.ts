import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sinch webhook intake (signature secrets, nonces, delivery idempotency), per-app keyword
 * settings and custom keywords, and the transactional outbox for confirmation replies.
 */
export class WebhooksKeywordsOutbox1763900000000 implements MigrationInterface {
  name = 'WebhooksKeywordsOutbox1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE app_settings
        ADD COLUMN webhook_secrets  text[]      NOT NULL DEFAULT '{}',
        ADD COLUMN matching_profile varchar(16) NOT NULL DEFAULT 'SINCH_EXACT',
        ADD COLUMN auto_reply       boolean     NOT NULL DEFAULT true,
        ADD COLUMN replies          jsonb       NOT NULL DEFAULT '{}'`);
    await q.query(`
      ALTER TABLE app_settings ADD CONSTRAINT app_settings_matching_profile_check
        CHECK (matching_profile IN ('SINCH_EXACT', 'US_FCC'))`);
    await q.query(`
      CREATE TABLE webhook_nonces (
        nonce   varchar(200) NOT NULL,
        seen_at timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT webhook_nonces_pk PRIMARY KEY (nonce)
      )`);
    await q.query(`CREATE INDEX webhook_nonces_seen_idx ON webhook_nonces (seen_at)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        project_id   varchar(64)  NOT NULL,
        app_id       varchar(64)  NOT NULL,
        delivery_key varchar(300) NOT NULL,
        trigger      varchar(40)  NOT NULL,
        identity     varchar(256),
        outcome      varchar(40)  NOT NULL,
        details      jsonb,
        event_time   timestamptz  NOT NULL,
        received_at  timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT webhook_deliveries_pk PRIMARY KEY (project_id, app_id, delivery_key)
      )`);
    // Led by identity, not (project_id, app_id): sharing the primary key's leading columns let
    // the planner pick this index for primary-key updates on a table without statistics.
    await q.query(`
      CREATE INDEX webhook_deliveries_identity_idx
        ON webhook_deliveries (identity, project_id, app_id, received_at)`);
    await q.query(`
      CREATE TABLE custom_keywords (
        id         varchar(26)  NOT NULL,
        project_id varchar(64)  NOT NULL,
        app_id     varchar(64)  NOT NULL,
        phrase     varchar(100) NOT NULL,
        action     varchar(16)  NOT NULL CHECK (action IN ('OPT_OUT', 'OPT_IN', 'HELP')),
        list_type  varchar(32),
        language   varchar(2)   NOT NULL,
        created_at timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT custom_keywords_pk PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX custom_keywords_app_idx ON custom_keywords (project_id, app_id)`);
    await q.query(`
      CREATE TABLE outbox_jobs (
        id              bigint GENERATED ALWAYS AS IDENTITY,
        kind            varchar(32)  NOT NULL,
        project_id      varchar(64)  NOT NULL,
        app_id          varchar(64)  NOT NULL,
        payload         jsonb        NOT NULL,
        status          varchar(16)  NOT NULL DEFAULT 'PENDING'
          CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
        attempts        integer      NOT NULL DEFAULT 0,
        next_attempt_at timestamptz  NOT NULL DEFAULT now(),
        give_up_at      timestamptz  NOT NULL,
        last_error      varchar(500),
        created_at      timestamptz  NOT NULL DEFAULT now(),
        finished_at     timestamptz,
        CONSTRAINT outbox_jobs_pk PRIMARY KEY (id)
      )`);
    await q.query(`
      CREATE INDEX outbox_jobs_due_idx ON outbox_jobs (next_attempt_at) WHERE status = 'PENDING'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox_jobs`);
    await q.query(`DROP TABLE custom_keywords`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_nonces`);
    await q.query(`ALTER TABLE app_settings DROP CONSTRAINT app_settings_matching_profile_check`);
    await q.query(`
      ALTER TABLE app_settings
        DROP COLUMN replies, DROP COLUMN auto_reply, DROP COLUMN matching_profile,
        DROP COLUMN webhook_secrets`);
  }
}
