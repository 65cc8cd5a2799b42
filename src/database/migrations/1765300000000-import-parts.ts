import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Imports applied by several transactions at once (IMPORT_APPLY_PARTS): import_parts holds, for
 * a running import, each part's key range and cursor. With one chain per app an import could
 * not be applied faster than one writer; the chain's lanes (migration 1765200000000) let each
 * part's transaction write a lane of its own. An import that was running when this migration
 * ran gets its parts at its next chunk, from its cursor on (imports.cursor_*: kept, no longer
 * moved once the parts exist).
 */
export class ImportParts1765300000000 implements MigrationInterface {
  name = 'ImportParts1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE import_parts (
        import_id varchar(26) NOT NULL,
        part smallint NOT NULL,
        cursor_identity varchar(256) NOT NULL,
        cursor_list_type varchar(32) NOT NULL,
        cursor_line integer NOT NULL,
        last_identity varchar(256) NULL,
        last_list_type varchar(32) NULL,
        done boolean NOT NULL DEFAULT false,
        CONSTRAINT import_parts_pk PRIMARY KEY (import_id, part)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE import_parts`);
  }
}
