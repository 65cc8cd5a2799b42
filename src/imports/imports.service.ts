import { ConcurrencyGate } from '../common/concurrency-gate.js';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { PoolClient } from 'pg';
import { Readable, Transform, TransformCallback, pipeline } from 'node:stream';
import { ApiError } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { AppConfig } from '../config/app-config.js';
import { ConsentService, ChangeInput } from '../consent/consent.service.js';
import { ChangeAction, Origin, Outcome } from '../consent/domain/consent-types.js';
import { JobQueueRepository } from '../jobs/job-queue.repository.js';
import { describeError } from '../jobs/polling-loop.js';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import type { AppRef } from '../kernel/app-ref.js';
import { isRowError, NotAnImportFileError, RowError, validateRow } from './domain/import-row.js';
import { readImportFile } from './import-file.js';
import { ImportFormat, ImportStatus } from './import.entity.js';
import {
  ImportRow,
  ImportsRepository,
  OutcomeCounts,
  StagedChange,
  StagedKey,
  StagingWriter,
  START_KEY,
} from './imports.repository.js';

export const IMPORT_JOB = 'IMPORT';
/** An import job not finished this long after its upload is given up (FAILED). */
export const IMPORT_GIVE_UP_AFTER_S = 86400;
/** The GET answer lists this many errors; GET .../errors pages all of them. */
export const ERRORS_SHOWN = 100;
/** An upload that sends nothing for this long is cut off (408), nothing stored. */
export const UPLOAD_STALL_MS = 60_000;

/** The status of an import as the API shows it (also the synchronous answer of a dry run). */
export interface ImportStatusView {
  import_id: string | null;
  status: ImportStatus;
  format: ImportFormat;
  dry_run: boolean;
  rows_read: number;
  applied: number;
  no_change: number;
  superseded: number;
  rejected: number;
  errors: RowError[];
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface UploadInput {
  format: ImportFormat;
  body: Readable;
  /** The Content-Length header, when the body has one. */
  contentLength?: number;
  dryRun: boolean;
}

export type UploadResult =
  | { dryRun: false; importId: string; status: ImportStatus.RUNNING }
  | { dryRun: true; view: ImportStatusView };

/** What one chunk of an import's job did. */
export type ChunkResult = 'more' | 'done' | 'gone';

class TooLargeError extends Error {}
class StalledError extends Error {}

/**
 * Counts the bytes of a body: past `max` (or after UPLOAD_STALL_MS without data) it fails, and
 * so does everything reading from it.
 */
class BodyGuard extends Transform {
  private bytes = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly max: number) {
    super();
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    const t = setTimeout(() => this.destroy(new StalledError()), UPLOAD_STALL_MS);
    t.unref();
    return t;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    clearTimeout(this.timer);
    if (this.bytes > this.max) {
      done(new TooLargeError());
      return;
    }
    this.timer = this.arm();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(e: Error | null, done: (e: Error | null) => void): void {
    clearTimeout(this.timer);
    done(e);
  }
}

export function noSuchImport(importId: string): ApiError {
  return ApiError.notFound(`No import ${importId} in this app.`);
}

export function tooLarge(max: number): ApiError {
  return new ApiError(
    413,
    'INVALID_ARGUMENT',
    `The import file is larger than IMPORT_MAX_BYTES (${max} bytes); nothing was stored.`,
    [],
    { connection: 'close' },
  );
}

function notAnImportFile(why: string): ApiError {
  return ApiError.invalidRequest(
    [{ field: 'body', description: why }],
    `Not a consent import file: ${why}; nothing was stored.`,
  );
}

function sameKey(a: StagedKey, b: StagedKey): boolean {
  return a.identity === b.identity && a.listType === b.listType;
}

function toChange(r: StagedChange): ChangeInput {
  return {
    identity: r.identity,
    listType: r.listType,
    action: r.optedOut ? ChangeAction.OPT_OUT : ChangeAction.OPT_IN,
    eventTime: r.eventTime ?? undefined,
    reason: r.reason,
    source: r.source,
  };
}

function count(outcomes: readonly Outcome[], into: OutcomeCounts): void {
  for (const o of outcomes) {
    if (o === Outcome.APPLIED) into.applied++;
    else if (o === Outcome.NO_CHANGE) into.noChange++;
    else into.superseded++;
  }
}

/**
 * Bulk imports. An upload is read as it streams in (never buffered whole): each row is validated
 * with the API's rules, the valid ones staged with COPY (import_rows), the rejected ones recorded
 * (import_errors); once the whole body is in, one transaction makes the import RUNNING and queues
 * its IMPORT job, and the answer is 202. The job (ImportHandler) applies the staged rows chunk by
 * chunk (applyNextChunk), each chunk one transaction that moves the import's cursor, so a
 * restarted or second worker resumes where the last commit left off and never applies a row
 * twice. A dry run reads and stages the same way, predicts the outcomes (previewChanges) and
 * deletes what it staged before answering.
 *
 * Until the body is complete the import is UPLOADING (the API does not show it); a failed upload
 * (400, 413, a client that disconnects) deletes what it staged. An upload is not one database
 * transaction: on the embedded database every connection shares one session, and a transaction
 * open for as long as a client takes to send its file would stop every other request meanwhile.
 * What a crashed instance left UPLOADING is deleted by the retention sweep after a day.
 */
/** What a full upload gate's 429 says (see tooBusy). */
export const UPLOADS_BUSY = {
  what: 'import uploads are already streaming in',
  setting: 'IMPORT_MAX_CONCURRENT',
} as const;

@Injectable()
export class ImportsService {
  private readonly logger = new Logger('Imports');
  private readonly uploads = new ConcurrencyGate(
    () => this.config.IMPORT_MAX_CONCURRENT,
    UPLOADS_BUSY.what,
    UPLOADS_BUSY.setting,
  );

  constructor(
    private readonly config: AppConfig,
    private readonly repo: ImportsRepository,
    private readonly consent: ConsentService,
    private readonly jobs: JobQueueRepository,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async upload(app: AppRef, actor: string, input: UploadInput): Promise<UploadResult> {
    const max = this.config.IMPORT_MAX_BYTES;
    if (input.contentLength !== undefined && input.contentLength > max) throw tooLarge(max);
    const release = this.uploads.enter();
    try {
      return await this.receive(app, actor, input);
    } finally {
      release();
    }
  }

  private async receive(app: AppRef, actor: string, input: UploadInput): Promise<UploadResult> {
    const max = this.config.IMPORT_MAX_BYTES;
    const guard = new BodyGuard(max);
    pipeline(input.body, guard, () => undefined);
    const importId = newUlid();
    const createdAt = new Date();
    let client: PoolClient | undefined;
    let writer: StagingWriter | undefined;
    let rowsRead = 0;
    let rejected = 0;
    const firstErrors: RowError[] = [];
    const reject = (e: RowError): void => {
      rejected++;
      if (firstErrors.length < ERRORS_SHOWN) firstErrors.push(e);
      writer!.addError(e);
    };
    try {
      for await (const batch of readImportFile(input.format, guard)) {
        if (!writer) {
          // The header (CSV) or first line (NDJSON) is good: from here on rows are staged.
          await this.repo.createUpload(app, importId, input.format, actor);
          client = await this.repo.connect();
          writer = new StagingWriter(client, importId, !input.dryRun, this.repo.canCopy);
        }
        const now = Date.now();
        for (const item of batch) {
          rowsRead++;
          if ('error' in item) {
            reject(item.error);
            continue;
          }
          const row = validateRow(item.fields, item.line, now);
          if (isRowError(row)) reject(row);
          else writer.addRow(row);
        }
        await writer.drain();
      }
      if (rowsRead === 0) throw new NotAnImportFileError('it has no data rows');
      await writer!.flush();
      client!.release();
      client = undefined;
      await this.repo.analyzeStaged();
    } catch (e) {
      // The batch being stored is waited for (so that discard deletes it too), then the
      // connection is discarded, whatever state a COPY left it in.
      await writer?.abandon();
      client?.release(e instanceof Error ? e : new Error(String(e)));
      if (writer) await this.discard(importId);
      if (e instanceof NotAnImportFileError) throw notAnImportFile(e.message);
      if (e instanceof TooLargeError) throw tooLarge(max);
      if (e instanceof StalledError)
        throw new ApiError(
          408,
          'INVALID_ARGUMENT',
          `The upload sent nothing for ${UPLOAD_STALL_MS / 1000} s; nothing was stored.`,
        );
      throw e;
    }
    if (input.dryRun) {
      try {
        const counts = await this.preview(app, importId);
        return {
          dryRun: true,
          view: {
            import_id: null,
            status: ImportStatus.SUCCEEDED,
            format: input.format,
            dry_run: true,
            rows_read: rowsRead,
            applied: counts.applied,
            no_change: counts.noChange,
            superseded: counts.superseded,
            rejected,
            errors: firstErrors,
            error: null,
            created_at: createdAt.toISOString(),
            finished_at: new Date().toISOString(),
          },
        };
      } finally {
        await this.discard(importId);
      }
    }
    try {
      await this.dataSource.transaction(async (tx) => {
        const jobId = await this.jobs.enqueue(tx, {
          kind: IMPORT_JOB,
          projectId: app.projectId,
          appId: app.appId,
          payload: { import_id: importId },
          giveUpAfterS: IMPORT_GIVE_UP_AFTER_S,
        });
        await this.repo.markReceived(tx, importId, { rowsRead, rejected, jobId });
      });
    } catch (e) {
      await this.discard(importId);
      throw e;
    }
    this.logger.log(
      `import ${importId} received app=${app.appId} format=${input.format} rows=${rowsRead} rejected=${rejected}`,
    );
    return { dryRun: false, importId, status: ImportStatus.RUNNING };
  }

  /** An import's status with its first errors; 404 for an unknown id or another app's. */
  async status(app: AppRef, importId: string): Promise<ImportStatusView> {
    const row = await this.repo.find(app, importId);
    if (!row) throw noSuchImport(importId);
    const errors = await this.repo.errorsAfter(importId, 0, ERRORS_SHOWN);
    return toView(row, errors);
  }

  /** One page of an import's errors, in line order. */
  async errorsPage(
    app: AppRef,
    importId: string,
    pageSize: number,
    pageToken?: string,
  ): Promise<{ errors: RowError[]; nextPageToken: string }> {
    const row = await this.repo.find(app, importId);
    if (!row) throw noSuchImport(importId);
    const after = Number(readPageToken(pageToken, true) ?? '0');
    const rows = await this.repo.errorsAfter(importId, after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    const next = rows.length > pageSize ? encodePageToken(String(page[page.length - 1]!.line)) : '';
    return { errors: page, nextPageToken: next };
  }

  /** An import by id alone (the CLI), or null. */
  find(importId: string): Promise<ImportRow | null> {
    return this.repo.findById(importId);
  }

  /**
   * The parts of a running import its job applies side by side (made at its first chunk:
   * ImportsRepository.planParts, IMPORT_APPLY_PARTS of them at most, none smaller than
   * IMPORT_CHUNK_ROWS), the import row locked meanwhile: the parts not done yet. 'gone': there
   * is no such import; 'done': it no longer runs.
   */
  startParts(importId: string): Promise<number[] | 'gone' | 'done'> {
    return this.dataSource.transaction(async (tx) => {
      const locked = await this.repo.forApply(tx, importId, true);
      if (!locked) return 'gone';
      if (locked.status !== ImportStatus.RUNNING) return 'done';
      return this.repo.planParts(
        tx,
        importId,
        locked.cursor,
        this.config.IMPORT_APPLY_PARTS,
        this.config.IMPORT_CHUNK_ROWS,
      );
    });
  }

  /**
   * Applies the next chunk of one part of an import's staged rows (IMPORT_CHUNK_ROWS, in key
   * order) in one transaction: the part's row is locked and its cursor read inside it, so chunks
   * of one part never overlap, whichever worker runs them, while the other parts' chunks run
   * beside it (their keys are other keys: each identity and list is in one part, applied in line
   * order; each transaction writes an audit chain lane of its own). The chunk's rows go through
   * ConsentService.applyChanges (audit records carrying the import id and each row's source,
   * callbacks), are deleted from the staging table, and the counts and the part's cursor move
   * past them (ImportsRepository.endPartChunk); the chunk that ends the last part marks the
   * import SUCCEEDED. 'gone': there is no such import or part.
   */
  applyNextChunk(importId: string, part: number): Promise<ChunkResult> {
    const limit = this.config.IMPORT_CHUNK_ROWS;
    return this.dataSource.transaction(async (tx): Promise<ChunkResult> => {
      const locked = await this.repo.lockPart(tx, importId, part);
      if (!locked) return 'gone';
      if (locked.done) return 'done';
      const imp = await this.repo.forApply(tx, importId, false);
      if (!imp) return 'gone';
      if (imp.status !== ImportStatus.RUNNING) return 'done';
      const rows = await this.repo.stagedAfter(importId, locked.cursor, limit, tx, locked.last);
      const counts: OutcomeCounts = { applied: 0, noChange: 0, superseded: 0 };
      let last: StagedKey | null = null;
      if (rows.length > 0) {
        const results = await this.consent.applyChanges(
          { app: imp.app, origin: Origin.ORIGIN_IMPORT, actor: imp.actor, importId },
          rows.map(toChange),
          tx,
        );
        count(
          results.map((r) => r.outcome),
          counts,
        );
        last = rows[rows.length - 1]!;
        await this.repo.deleteStaged(importId, locked.cursor, last, tx);
      }
      const done = rows.length < limit;
      await this.repo.endPartChunk(tx, importId, part, counts, last, done);
      return done ? 'done' : 'more';
    });
  }

  /**
   * The outcomes a dry run predicts: the staged rows in key order, in chunks that never split
   * one identity and list (previewChanges folds the changes to one key in line order), each
   * decided against the stored states. Deletes the rows as it goes.
   */
  private async preview(app: AppRef, importId: string): Promise<OutcomeCounts> {
    const limit = this.config.IMPORT_CHUNK_ROWS;
    const counts: OutcomeCounts = { applied: 0, noChange: 0, superseded: 0 };
    let after = START_KEY;
    let carry: StagedChange[] = [];
    for (;;) {
      const batch = await this.repo.stagedAfter(importId, after, limit);
      let rows = carry.concat(batch);
      carry = [];
      if (batch.length === limit) {
        // The next batch may hold more rows of the last key: keep them for it.
        const last = rows[rows.length - 1]!;
        let cut = rows.length;
        while (cut > 0 && sameKey(rows[cut - 1]!, last)) cut--;
        carry = rows.slice(cut);
        rows = rows.slice(0, cut);
      }
      if (rows.length > 0)
        count(await this.consent.previewChanges(app, rows.map(toChange)), counts);
      if (batch.length === 0) return counts;
      after = batch[batch.length - 1]!;
    }
  }

  private async discard(importId: string): Promise<void> {
    try {
      await this.repo.discardUpload(importId);
    } catch (e) {
      // The retention sweep deletes it later.
      this.logger.warn(`could not discard upload ${importId}: ${describeError(e)}`);
    }
  }
}

export function toView(row: ImportRow, errors: RowError[]): ImportStatusView {
  return {
    import_id: row.import_id,
    status: row.status,
    format: row.format,
    dry_run: false,
    rows_read: row.rows_read,
    applied: row.applied,
    no_change: row.no_change,
    superseded: row.superseded,
    rejected: row.rejected,
    errors,
    error: row.error,
    created_at: row.created_at.toISOString(),
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}
