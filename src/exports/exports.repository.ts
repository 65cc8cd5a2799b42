import { Inject, Injectable } from '@nestjs/common';
import { escapeLiteral, type Pool } from 'pg';
import type { Readable } from 'node:stream';
import { copyOut } from '../database/copy-out.js';
import { PG_POOL } from '../database/database.module.js';
import { auditRecordJsonSql } from '../consent/audit-record-view.js';
import { isoTimestampSql } from '../common/sql-time.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { ListType } from '../consent/domain/consent-types.js';

/**
 * The columns of a list export, in order: the CSV header and the NDJSON fields. The import
 * (POST .../imports) reads the same names (opted_out_since as event_time; origin and
 * audit_record_id ignored), so an export re-imports as is.
 */
export const LIST_EXPORT_COLUMNS = [
  ['identity', 's.identity'],
  ['list_type', 's.list_type'],
  ['opted_out_since', isoTimestampSql('s.since')],
  ['origin', 's.origin'],
  ['source', 's.source'],
  ['audit_record_id', 's.audit_record_id::text'],
] as const;

export type ExportFormat = 'csv' | 'ndjson';

/**
 * COPY's CSV format with a quote and a delimiter that JSON text never contains (JSON escapes
 * every control character), so that COPY writes each JSON value as it is, one per line: the
 * text format would double every backslash of the JSON's escapes.
 */
const AS_IS_LINES = `WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')`;

/** The COPY statement of a list export (bench/export.mjs runs it bare, as its baseline). */
export function listExportSql(app: AppRef, listType: ListType, format: ExportFormat): string {
  const columns = LIST_EXPORT_COLUMNS.map(([name, sql]) => `${sql} AS ${name}`).join(', ');
  const rows = `FROM consent_state s
      WHERE s.project_id = ${escapeLiteral(app.projectId)} AND s.app_id = ${escapeLiteral(app.appId)}
        AND s.list_type = ${escapeLiteral(listType)} AND s.opted_out
      ORDER BY s.identity`;
  return format === 'csv'
    ? `COPY (SELECT ${columns} ${rows}) TO STDOUT WITH (FORMAT csv, HEADER)`
    : `COPY (SELECT (SELECT row_to_json(r)::text FROM (SELECT ${columns}) r) ${rows})
         TO STDOUT ${AS_IS_LINES}`;
}

/** The COPY statement of an audit export: NDJSON of AuditRecordDto, in id order. */
export function auditExportSql(app: AppRef, range: { from?: string; to?: string }): string {
  const bounds = [
    range.from ? `AND a.recorded_at >= ${escapeLiteral(range.from)}::timestamptz` : '',
    range.to ? `AND a.recorded_at < ${escapeLiteral(range.to)}::timestamptz` : '',
  ].join(' ');
  return `COPY (SELECT ${auditRecordJsonSql()} FROM consent_audit a
            WHERE a.project_id = ${escapeLiteral(app.projectId)}
              AND a.app_id = ${escapeLiteral(app.appId)} ${bounds}
            ORDER BY a.id)
       TO STDOUT ${AS_IS_LINES}`;
}

/**
 * The exports' reads: each one statement, `COPY (SELECT ...) TO STDOUT` on a connection of its
 * own from the pool, streamed as the database writes it (backpressure included: a slow reader
 * slows the COPY, the rows are never all in memory).
 */
@Injectable()
export class ExportsRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Every identity on the list, in identity order (the order of the Sinch list endpoint). */
  copyList(app: AppRef, listType: ListType, format: ExportFormat): Promise<Readable> {
    return this.copyOut(listExportSql(app, listType, format));
  }

  /**
   * Every audit record of the app, each as the JSON of the audit records API, in id order;
   * recorded_at in [from, to) where given (RFC 3339 texts, already validated).
   */
  copyAuditRecords(app: AppRef, range: { from?: string; to?: string }): Promise<Readable> {
    return this.copyOut(auditExportSql(app, range));
  }

  private copyOut(sql: string): Promise<Readable> {
    return copyOut(this.pool, sql);
  }
}
