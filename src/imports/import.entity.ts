import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';

export enum ImportStatus {
  /** The body is still being received (or was never received completely): not shown. */
  UPLOADING = 'UPLOADING',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}

export enum ImportFormat {
  CSV = 'csv',
  NDJSON = 'ndjson',
}

/** One bulk import: its counts, and the staged key its job applied last (its cursor). */
@Entity({ name: 'imports' })
@Check('imports_status_check', `status IN ('UPLOADING', 'RUNNING', 'SUCCEEDED', 'FAILED')`)
@Check('imports_format_check', `format IN ('csv', 'ndjson')`)
export class ImportEntity extends AppScopedRow {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  import_id: string;

  @Column({ type: 'varchar', length: 16 })
  status: ImportStatus;

  @Column({ type: 'varchar', length: 8 })
  format: ImportFormat;

  /** Data rows read (blank lines are not rows). */
  @Column({ type: 'integer', default: 0 })
  rows_read: number;

  @Column({ type: 'integer', default: 0 })
  applied: number;

  @Column({ type: 'integer', default: 0 })
  no_change: number;

  @Column({ type: 'integer', default: 0 })
  superseded: number;

  @Column({ type: 'integer', default: 0 })
  rejected: number;

  /**
   * The cursor: the key (identity, list_type, line) of the last staged row applied; rows are
   * applied in this key's order. '' / '' / 0 before the first chunk.
   */
  @Column({ type: 'varchar', length: 256, default: '' })
  cursor_identity: string;

  @Column({ type: 'varchar', length: 32, default: '' })
  cursor_list_type: string;

  @Column({ type: 'integer', default: 0 })
  cursor_line: number;

  /** Who uploaded it: an API key id, "admin", or "cli". */
  @Column({ type: 'varchar', length: 128 })
  actor: string;

  /** The IMPORT job that applies it (outbox_jobs.id). */
  @Column({ type: 'bigint', nullable: true })
  job_id: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finished_at: Date | null;

  /** Why it FAILED. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;
}

/** A valid row of an import, staged until its job applies it (then deleted). */
@Entity({ name: 'import_rows' })
export class ImportRowEntity {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  import_id: string;

  /** Normalised. */
  @PrimaryColumn({ type: 'varchar', length: 256 })
  identity: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  list_type: string;

  @PrimaryColumn({ type: 'integer' })
  line: number;

  /** The action: true for OPT_OUT, false for OPT_IN. */
  @Column({ type: 'boolean' })
  opted_out: boolean;

  @Column({ type: 'timestamptz', nullable: true })
  event_time: Date | null;

  @Column({ type: 'varchar', length: 500, nullable: true })
  reason: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  source: string | null;
}

/**
 * One part of a running import's staged rows (migration 1765300000000): a range of keys
 * (identity, list_type) that one transaction at a time applies, chunk after chunk, beside the
 * other parts (IMPORT_APPLY_PARTS). Its cursor is the last staged row applied; the range ends
 * with the key (last_identity, last_list_type), all its lines, or at the end when null. Kept
 * while the import runs (the retention sweep deletes the others).
 */
@Entity({ name: 'import_parts' })
export class ImportPartEntity {
  @PrimaryColumn({ type: 'varchar', length: 26, primaryKeyConstraintName: 'import_parts_pk' })
  import_id: string;

  @PrimaryColumn({ type: 'smallint', primaryKeyConstraintName: 'import_parts_pk' })
  part: number;

  @Column({ type: 'varchar', length: 256 })
  cursor_identity: string;

  @Column({ type: 'varchar', length: 32 })
  cursor_list_type: string;

  @Column({ type: 'integer' })
  cursor_line: number;

  @Column({ type: 'varchar', length: 256, nullable: true })
  last_identity: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  last_list_type: string | null;

  @Column({ type: 'boolean', default: false })
  done: boolean;
}

/** A rejected row of an import: its line, the field at fault and why (never the identity). */
@Entity({ name: 'import_errors' })
export class ImportErrorEntity {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  import_id: string;

  @PrimaryColumn({ type: 'integer' })
  line: number;

  @Column({ type: 'varchar', length: 64 })
  field: string;

  @Column({ type: 'varchar', length: 300 })
  description: string;
}
