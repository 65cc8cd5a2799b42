import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { finished } from 'node:stream/promises';
import type { EntityManager } from 'typeorm';
import { NAMED_STATEMENTS, PG_POOL } from '../database/database.module.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { ListType } from '../consent/domain/consent-types.js';
import { epochMsSql } from '../common/sql-time.js';
import type { RowError, StagedRow } from './domain/import-row.js';
import { ImportFormat, ImportStatus } from './import.entity.js';

/** A staged row's key: the order rows are applied in. */
export interface StagedKey {
  identity: string;
  listType: string;
  line: number;
}

/** Before the first row: identities are never empty. */
export const START_KEY: StagedKey = { identity: '', listType: '', line: 0 };

export interface StagedChange extends StagedKey {
  listType: ListType;
  optedOut: boolean;
  eventTime: Date | null;
  reason: string | null;
  source: string | null;
}

/** What the API shows of an import. */
export interface ImportRow {
  import_id: string;
  project_id: string;
  app_id: string;
  status: ImportStatus;
  format: ImportFormat;
  rows_read: number;
  applied: number;
  no_change: number;
  superseded: number;
  rejected: number;
  actor: string;
  job_id: string | null;
  created_at: Date;
  finished_at: Date | null;
  error: string | null;
}

/** An import as its job reads it. */
export interface LockedImport {
  app: AppRef;
  status: ImportStatus;
  actor: string;
  cursor: StagedKey;
}

/** One part of a running import (import_parts), as its chunk transaction locks it. */
export interface ImportPart {
  part: number;
  cursor: StagedKey;
  /** The part's last key (all its lines), or null: to the end. */
  last: { identity: string; listType: string } | null;
  done: boolean;
}

/** The largest line: a cursor at (identity, list_type, LAST_LINE) is past every line of a key. */
const LAST_LINE = 2147483647;

export interface OutcomeCounts {
  applied: number;
  noChange: number;
  superseded: number;
}

const IMPORT_COLUMNS = `import_id, project_id, app_id, status, format, rows_read, applied, no_change,
  superseded, rejected, actor, job_id::text AS job_id, created_at, finished_at, error`;

/** Staged rows are sent to COPY in batches of about this many bytes. */
const COPY_BATCH_BYTES = 1024 * 1024;

/** COPY text format: backslash, tab, LF and CR escaped. */
function copyText(s: string): string {
  return /[\\\t\n\r]/.test(s)
    ? s.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : s;
}

function copyNullable(s: string | null): string {
  return s === null ? '\\N' : copyText(s);
}

/**
 * Writes an upload's staged rows (and rejected rows) with COPY FROM STDIN on one pool client, in
 * batches of about 1 MiB held in memory: each COPY is a short statement fed from memory, never
 * from the request, so a client that stops sending or disconnects never leaves a COPY half done
 * on the connection. Every value was validated before it gets here (a COPY that fails on bad
 * data could leave the connection out of step; the caller then discards it).
 */
export class StagingWriter {
  private rows: string[] = [];
  private rowBytes = 0;
  private errors: string[] = [];
  private errorBytes = 0;
  /** The same batches as INSERT ... SELECT FROM unnest() (the embedded database has no COPY FROM STDIN). */
  private readonly rowValues: unknown[][] = [[], [], [], [], [], [], []];
  private readonly errorValues: unknown[][] = [[], [], []];
  /** The COPY batch sent and not yet stored (see copy). */
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly client: PoolClient,
    private readonly importId: string,
    /** Rejected rows are written too (a dry run only counts them). */
    private readonly keepErrors: boolean,
    /** COPY FROM STDIN (PostgreSQL), or INSERT (PGlite over its socket: no COPY FROM STDIN). */
    private readonly useCopy: boolean,
  ) {}

  /** Adds a row to the batch in memory (drain() sends full batches). */
  addRow(r: StagedRow): void {
    if (!this.useCopy) {
      const v = this.rowValues;
      v[0]!.push(r.identity);
      v[1]!.push(r.listType);
      v[2]!.push(r.line);
      v[3]!.push(r.optedOut);
      v[4]!.push(r.eventTime ? r.eventTime.toISOString() : null);
      v[5]!.push(r.reason);
      v[6]!.push(r.source);
      this.rowBytes += r.identity.length + (r.reason?.length ?? 0) + (r.source?.length ?? 0) + 64;
      return;
    }
    const text = `${this.importId}\t${copyText(r.identity)}\t${r.listType}\t${r.line}\t${
      r.optedOut ? 't' : 'f'
    }\t${r.eventTime ? r.eventTime.toISOString() : '\\N'}\t${copyNullable(r.reason)}\t${copyNullable(
      r.source,
    )}\n`;
    this.rows.push(text);
    this.rowBytes += text.length;
  }

  /** Adds a rejected row to the batch in memory (drain() sends full batches). */
  addError(e: RowError): void {
    if (!this.keepErrors) return;
    if (!this.useCopy) {
      this.errorValues[0]!.push(e.line);
      this.errorValues[1]!.push(e.field);
      this.errorValues[2]!.push(e.description);
      this.errorBytes += e.description.length + e.field.length + 16;
      return;
    }
    const text = `${this.importId}\t${e.line}\t${copyText(e.field)}\t${copyText(e.description)}\n`;
    this.errors.push(text);
    this.errorBytes += text.length;
  }

  /** Sends the batches in memory that are full (about COPY_BATCH_BYTES); see copy. */
  async drain(): Promise<void> {
    if (this.rowBytes >= COPY_BATCH_BYTES) await this.flushRows();
    if (this.errorBytes >= COPY_BATCH_BYTES) await this.flushErrors();
  }

  /** Writes what is left and waits until every batch is stored. */
  async flush(): Promise<void> {
    await this.flushRows();
    await this.flushErrors();
    await this.settle();
  }

  private async flushRows(): Promise<void> {
    if (!this.useCopy) {
      if (this.rowValues[0]!.length === 0) return;
      const values = this.rowValues.map((column) => column.splice(0));
      this.rowBytes = 0;
      await this.client.query(
        `INSERT INTO import_rows (import_id, identity, list_type, line, opted_out, event_time, reason, source)
         SELECT $1, * FROM unnest($2::varchar[], $3::varchar[], $4::int[], $5::boolean[],
                                  $6::timestamptz[], $7::varchar[], $8::varchar[])`,
        [this.importId, ...values],
      );
      return;
    }
    if (this.rows.length === 0) return;
    const data = this.rows.join('');
    this.rows = [];
    this.rowBytes = 0;
    await this.copy(
      `COPY import_rows (import_id, identity, list_type, line, opted_out, event_time, reason, source) FROM STDIN`,
      data,
    );
  }

  private async flushErrors(): Promise<void> {
    if (!this.useCopy) {
      if (this.errorValues[0]!.length === 0) return;
      const values = this.errorValues.map((column) => column.splice(0));
      this.errorBytes = 0;
      await this.client.query(
        `INSERT INTO import_errors (import_id, line, field, description)
         SELECT $1, * FROM unnest($2::int[], $3::varchar[], $4::varchar[])`,
        [this.importId, ...values],
      );
      return;
    }
    if (this.errors.length === 0) return;
    const data = this.errors.join('');
    this.errors = [];
    this.errorBytes = 0;
    await this.copy(`COPY import_errors (import_id, line, field, description) FROM STDIN`, data);
  }

  /**
   * Sends one batch with COPY and returns once the batch before it is stored: the reading and
   * validation of the next rows go on while the database stores this one (one batch in flight,
   * so memory stays at about two batches). The last batch is waited for by settle().
   */
  private async copy(sql: string, data: string): Promise<void> {
    await this.settle();
    const stream = this.client.query(copyFrom(sql));
    stream.end(data, 'utf8');
    const stored = finished(stream);
    // Observed now (an unhandled rejection otherwise), thrown by the next settle().
    stored.catch(() => undefined);
    this.inFlight = stored;
  }

  /**
   * After a failure: waits for the batch in flight, whatever its outcome, so that what it stored
   * is there to be deleted (a COPY sent whole completes even if its connection is then closed).
   */
  async abandon(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    this.inFlight = undefined;
  }

  /** Waits for the batch in flight; throws what its COPY threw. */
  private async settle(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = undefined;
    if (pending) await pending;
  }
}

/**
 * The imports tables: imports (one row per import), import_rows (staged rows) and import_errors.
 * Plain SQL on the pg pool, or in the caller's transaction (the job's chunks).
 */
@Injectable()
export class ImportsRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    /** False on the embedded database (see NAMED_STATEMENTS): no COPY FROM STDIN there. */
    @Inject(NAMED_STATEMENTS) readonly canCopy: boolean,
  ) {}

  /** A dedicated client for an upload's COPY batches (release it; with an error if it failed). */
  connect(): Promise<PoolClient> {
    return this.pool.connect();
  }

  /** Registers an upload (status UPLOADING: invisible until its body is received). */
  async createUpload(
    app: AppRef,
    importId: string,
    format: ImportFormat,
    actor: string,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO imports (import_id, project_id, app_id, status, format, actor)
       VALUES ($1, $2, $3, 'UPLOADING', $4, $5)`,
      [importId, app.projectId, app.appId, format, actor],
    );
  }

  /** The received upload becomes RUNNING (in the caller's transaction, with its job). */
  async markReceived(
    tx: EntityManager,
    importId: string,
    counts: { rowsRead: number; rejected: number; jobId: string },
  ): Promise<ImportRow> {
    // Wrapped in a SELECT: TypeORM's query() reshapes the result of a bare UPDATE.
    const rows: ImportRow[] = await tx.query(
      `WITH received AS (
         UPDATE imports SET status = 'RUNNING', rows_read = $2, rejected = $3, job_id = $4
          WHERE import_id = $1 AND status = 'UPLOADING'
          RETURNING *)
       SELECT ${IMPORT_COLUMNS} FROM received`,
      [importId, counts.rowsRead, counts.rejected, counts.jobId],
    );
    const row = rows[0];
    if (!row) throw new Error(`import ${importId} is no longer being uploaded`);
    return row;
  }

  /** Deletes everything of an upload that did not complete (or of a dry run). */
  async discardUpload(importId: string): Promise<void> {
    await this.pool.query(`DELETE FROM import_rows WHERE import_id = $1`, [importId]);
    await this.pool.query(`DELETE FROM import_errors WHERE import_id = $1`, [importId]);
    await this.pool.query(`DELETE FROM imports WHERE import_id = $1 AND status = 'UPLOADING'`, [
      importId,
    ]);
  }

  /** An import of this app (never one still uploading), or null. */
  async find(app: AppRef, importId: string): Promise<ImportRow | null> {
    const { rows } = await this.pool.query<ImportRow>(
      `SELECT ${IMPORT_COLUMNS} FROM imports
        WHERE import_id = $1 AND project_id = $2 AND app_id = $3 AND status <> 'UPLOADING'`,
      [importId, app.projectId, app.appId],
    );
    return rows[0] ?? null;
  }

  /** An import by id alone (the job and the CLI). */
  async findById(importId: string): Promise<ImportRow | null> {
    const { rows } = await this.pool.query<ImportRow>(
      `SELECT ${IMPORT_COLUMNS} FROM imports WHERE import_id = $1`,
      [importId],
    );
    return rows[0] ?? null;
  }

  /** Errors in line order, after `afterLine`. */
  async errorsAfter(importId: string, afterLine: number, limit: number): Promise<RowError[]> {
    const { rows } = await this.pool.query<RowError>(
      `SELECT line, field, description FROM import_errors
        WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT $3`,
      [importId, afterLine, limit],
    );
    return rows;
  }

  /**
   * The import as its job reads it: locked until the transaction ends when `lock` (its parts are
   * planned once), else not (a part's chunk: the import row is locked at its end, endPartChunk).
   */
  async forApply(tx: EntityManager, importId: string, lock: boolean): Promise<LockedImport | null> {
    const rows: {
      project_id: string;
      app_id: string;
      status: ImportStatus;
      actor: string;
      cursor_identity: string;
      cursor_list_type: string;
      cursor_line: number;
    }[] = await tx.query(
      `SELECT project_id, app_id, status, actor, cursor_identity, cursor_list_type, cursor_line
         FROM imports WHERE import_id = $1 ${lock ? 'FOR UPDATE' : ''}`,
      [importId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      app: { projectId: r.project_id, appId: r.app_id },
      status: r.status,
      actor: r.actor,
      cursor: { identity: r.cursor_identity, listType: r.cursor_list_type, line: r.cursor_line },
    };
  }

  /** The next `limit` staged rows after `after`, in key order (on the pool, or in `tx`). */
  async stagedAfter(
    importId: string,
    after: StagedKey,
    limit: number,
    tx?: EntityManager,
    last?: { identity: string; listType: string } | null,
  ): Promise<StagedChange[]> {
    const sql = `SELECT identity, list_type, line, opted_out, ${epochMsSql('event_time')} AS event_time,
              reason, source
         FROM import_rows
        WHERE import_id = $1 AND (identity, list_type, line) > ($2::varchar, $3::varchar, $4::int)
          ${last ? `AND (identity, list_type, line) <= ($6::varchar, $7::varchar, ${LAST_LINE})` : ''}
        ORDER BY identity, list_type, line
        LIMIT $5`;
    const params: unknown[] = [importId, after.identity, after.listType, after.line, limit];
    if (last) params.push(last.identity, last.listType);
    const rows: {
      identity: string;
      list_type: ListType;
      line: number;
      opted_out: boolean;
      event_time: number | null;
      reason: string | null;
      source: string | null;
    }[] = tx ? await tx.query(sql, params) : (await this.pool.query(sql, params)).rows;
    return rows.map((r) => ({
      identity: r.identity,
      listType: r.list_type,
      line: r.line,
      optedOut: r.opted_out,
      eventTime: r.event_time === null ? null : new Date(r.event_time),
      reason: r.reason,
      source: r.source,
    }));
  }

  /**
   * Deletes the staged rows of one chunk: after `after` (the cursor before it) up to `upTo` (its
   * last row), a bounded range of the index (an open one would walk the dead entries of every
   * chunk deleted before it).
   */
  async deleteStaged(
    importId: string,
    after: StagedKey,
    upTo: StagedKey,
    tx?: EntityManager,
  ): Promise<void> {
    const sql = `DELETE FROM import_rows
        WHERE import_id = $1
          AND (identity, list_type, line) > ($2::varchar, $3::varchar, $4::int)
          AND (identity, list_type, line) <= ($5::varchar, $6::varchar, $7::int)`;
    const params = [
      importId,
      after.identity,
      after.listType,
      after.line,
      upTo.identity,
      upTo.listType,
      upTo.line,
    ];
    if (tx) await tx.query(sql, params);
    else await this.pool.query(sql, params);
  }

  /**
   * Fresh planner statistics for the staging table, once an upload is staged: without them a
   * million rows staged since the last ANALYZE look like a handful, and each chunk's read
   * (stagedAfter) became a bitmap scan and sort of every row left (850 ms a chunk) instead of a
   * walk of the primary key.
   */
  async analyzeStaged(): Promise<void> {
    await this.pool.query('ANALYZE import_rows');
  }

  /**
   * The import's parts, made once (the import row is locked by the caller): its staged rows
   * after `cursor` cut into at most `parts` ranges of about as many rows, at key boundaries (all
   * the lines of one identity and list are in one part, applied in line order), and one part
   * when there are fewer than `minRows` a part. Returns the parts not done, in order.
   */
  async planParts(
    tx: EntityManager,
    importId: string,
    cursor: StagedKey,
    parts: number,
    minRows: number,
  ): Promise<number[]> {
    const existing: { part: number; done: boolean }[] = await tx.query(
      `SELECT part, done FROM import_parts WHERE import_id = $1 ORDER BY part`,
      [importId],
    );
    if (existing.length > 0) return existing.filter((p) => !p.done).map((p) => Number(p.part));
    const [{ n }] = (await tx.query(
      `SELECT count(*)::int AS n FROM import_rows
        WHERE import_id = $1 AND (identity, list_type, line) > ($2::varchar, $3::varchar, $4::int)`,
      [importId, cursor.identity, cursor.listType, cursor.line],
    )) as [{ n: number }];
    const count = Math.max(1, Math.min(parts, Math.floor(n / Math.max(1, minRows))));
    const bounds: { identity: string; list_type: string }[] = [];
    for (let k = 1; k < count; k++) {
      const rows: { identity: string; list_type: string }[] = await tx.query(
        `SELECT identity, list_type FROM import_rows
          WHERE import_id = $1 AND (identity, list_type, line) > ($2::varchar, $3::varchar, $4::int)
          ORDER BY identity, list_type, line OFFSET $5 LIMIT 1`,
        [importId, cursor.identity, cursor.listType, cursor.line, Math.floor((k * n) / count)],
      );
      const b = rows[0];
      const prev = bounds[bounds.length - 1];
      if (b && !(prev && prev.identity === b.identity && prev.list_type === b.list_type)) {
        bounds.push(b);
      }
    }
    const starts: StagedKey[] = [
      cursor,
      ...bounds.map((b) => ({ identity: b.identity, listType: b.list_type, line: LAST_LINE })),
    ];
    await tx.query(
      `INSERT INTO import_parts (import_id, part, cursor_identity, cursor_list_type, cursor_line,
                                 last_identity, last_list_type)
       SELECT $1, u.ord - 1, u.ci, u.cl, u.cn, u.li, u.ll
         FROM unnest($2::varchar[], $3::varchar[], $4::int[], $5::varchar[], $6::varchar[])
              WITH ORDINALITY u(ci, cl, cn, li, ll, ord)`,
      [
        importId,
        starts.map((s) => s.identity),
        starts.map((s) => s.listType),
        starts.map((s) => s.line),
        starts.map((_, i) => bounds[i]?.identity ?? null),
        starts.map((_, i) => bounds[i]?.list_type ?? null),
      ],
    );
    return starts.map((_, i) => i);
  }

  /** One part of the import, locked until the transaction ends (one chunk of it at a time). */
  async lockPart(tx: EntityManager, importId: string, part: number): Promise<ImportPart | null> {
    const rows: {
      cursor_identity: string;
      cursor_list_type: string;
      cursor_line: number;
      last_identity: string | null;
      last_list_type: string | null;
      done: boolean;
    }[] = await tx.query(
      `SELECT cursor_identity, cursor_list_type, cursor_line, last_identity, last_list_type, done
         FROM import_parts WHERE import_id = $1 AND part = $2 FOR UPDATE`,
      [importId, part],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      part,
      cursor: { identity: r.cursor_identity, listType: r.cursor_list_type, line: r.cursor_line },
      last:
        r.last_identity === null
          ? null
          : { identity: r.last_identity, listType: r.last_list_type! },
      done: r.done,
    };
  }

  /**
   * Ends a part's chunk: locks the import row (held to commit: the parts' chunks end one after
   * the other, each statement after it seeing the chunks committed before), adds the chunk's
   * outcomes, moves the part's cursor (done: the part has no row left), and when every part is
   * done marks the import SUCCEEDED. Returns whether it did.
   */
  async endPartChunk(
    tx: EntityManager,
    importId: string,
    part: number,
    counts: OutcomeCounts,
    cursor: StagedKey | null,
    done: boolean,
  ): Promise<boolean> {
    await tx.query(`SELECT 1 FROM imports WHERE import_id = $1 FOR UPDATE`, [importId]);
    await tx.query(
      `UPDATE imports
          SET applied = applied + $2, no_change = no_change + $3, superseded = superseded + $4
        WHERE import_id = $1`,
      [importId, counts.applied, counts.noChange, counts.superseded],
    );
    await tx.query(
      `UPDATE import_parts
          SET cursor_identity = coalesce($3, cursor_identity),
              cursor_list_type = coalesce($4, cursor_list_type),
              cursor_line = coalesce($5, cursor_line), done = $6
        WHERE import_id = $1 AND part = $2`,
      [
        importId,
        part,
        cursor?.identity ?? null,
        cursor?.listType ?? null,
        cursor?.line ?? null,
        done,
      ],
    );
    if (!done) return false;
    const [{ n }] = (await tx.query(
      `WITH u AS (
         UPDATE imports SET status = 'SUCCEEDED', finished_at = now()
          WHERE import_id = $1 AND status = 'RUNNING'
            AND NOT EXISTS (SELECT 1 FROM import_parts p WHERE p.import_id = $1 AND NOT p.done)
          RETURNING 1)
       SELECT count(*)::int AS n FROM u`,
      [importId],
    )) as [{ n: number }];
    return n > 0;
  }

  /** Counts of the tables, for tests and the CLI: how many rows an import left staged. */
  async stagedCount(importId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM import_rows WHERE import_id = $1`,
      [importId],
    );
    return rows[0]!.n;
  }
}
