import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk imports (src/imports/):
 * - imports: one row per import, its counts and its position (the staged key last applied);
 *   status UPLOADING while its body is being received (never shown by the API), then RUNNING,
 *   SUCCEEDED or FAILED.
 * - import_rows: the valid rows of an import, staged by COPY until its job applies them (each
 *   chunk's rows are deleted in the transaction that applies them), keyed in the order they are
 *   applied: identity, list type, then line.
 * - import_errors: the rejected rows (line, field, description), kept with the import.
 * No foreign keys from the staging tables: a COPY of a million rows would check each one.
 */
export class Imports1764600000000 implements MigrationInterface {
  name = 'Imports1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE imports (
        import_id varchar(26) NOT NULL,
        project_id varchar(64) NOT NULL,
        app_id varchar(64) NOT NULL,
        status varchar(16) NOT NULL,
        format varchar(8) NOT NULL,
        rows_read integer NOT NULL DEFAULT 0,
        applied integer NOT NULL DEFAULT 0,
        no_change integer NOT NULL DEFAULT 0,
        superseded integer NOT NULL DEFAULT 0,
        rejected integer NOT NULL DEFAULT 0,
        cursor_identity varchar(256) NOT NULL DEFAULT '',
        cursor_list_type varchar(32) NOT NULL DEFAULT '',
        cursor_line integer NOT NULL DEFAULT 0,
        actor varchar(128) NOT NULL,
        job_id bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        error varchar(500),
        CONSTRAINT imports_pkey PRIMARY KEY (import_id),
        CONSTRAINT imports_status_check CHECK (status IN ('UPLOADING', 'RUNNING', 'SUCCEEDED', 'FAILED')),
        CONSTRAINT imports_format_check CHECK (format IN ('csv', 'ndjson'))
      )`);
    await q.query(`
      CREATE TABLE import_rows (
        import_id varchar(26) NOT NULL,
        identity varchar(256) NOT NULL,
        list_type varchar(32) NOT NULL,
        line integer NOT NULL,
        opted_out boolean NOT NULL,
        event_time timestamptz,
        reason varchar(500),
        source varchar(128),
        CONSTRAINT import_rows_pkey PRIMARY KEY (import_id, identity, list_type, line)
      )`);
    await q.query(`
      CREATE TABLE import_errors (
        import_id varchar(26) NOT NULL,
        line integer NOT NULL,
        field varchar(64) NOT NULL,
        description varchar(300) NOT NULL,
        CONSTRAINT import_errors_pkey PRIMARY KEY (import_id, line)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE import_errors`);
    await q.query(`DROP TABLE import_rows`);
    await q.query(`DROP TABLE imports`);
  }
}
