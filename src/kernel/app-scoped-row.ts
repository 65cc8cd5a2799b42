import { Column, PrimaryColumn } from 'typeorm';

// The two columns that scope a row to an app (see AppRef), declared once for every per-app
// table. TypeORM takes the columns of a base class into each entity that extends it.

/** A per-app table whose primary key starts with (project_id, app_id). */
export abstract class AppKeyedRow {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  project_id: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  app_id: string;
}

/** A per-app table with a key of its own. */
export abstract class AppScopedRow {
  @Column({ type: 'varchar', length: 64 })
  project_id: string;

  @Column({ type: 'varchar', length: 64 })
  app_id: string;
}
