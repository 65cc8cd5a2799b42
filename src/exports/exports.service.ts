import { ConcurrencyGate } from '../common/concurrency-gate.js';
import { Injectable, Logger } from '@nestjs/common';
import { pipeline, type Readable } from 'node:stream';
import { ApiError } from '../common/api-error.js';
import { AppConfig } from '../config/app-config.js';
import type { ListType } from '../consent/domain/consent-types.js';
import type { AppRef } from '../kernel/app-ref.js';
import { ExportStream, ExportStalledError } from './export-stream.js';
import { ExportsRepository, type ExportFormat } from './exports.repository.js';

/** An export under way: its body streams once its first bytes (or its end) are in. */
export interface StreamedExport {
  body: Readable;
  format: ExportFormat;
  /** For Content-Disposition, without extension. */
  basename: string;
}

/** Seconds a client turned away because exports are all busy should wait. */

/**
 * Streaming exports of a list and of the audit trail, each at constant memory: the database's
 * COPY output is passed through as it comes (see ExportsRepository), through an ExportStream that
 * cuts a stalled reader. At most EXPORT_MAX_CONCURRENT exports stream at once per instance, since
 * each holds a pool connection for its duration.
 */
/** What a full export gate's 429 says (see tooBusy). */
export const EXPORTS_BUSY = {
  what: 'exports are already streaming',
  setting: 'EXPORT_MAX_CONCURRENT',
} as const;

@Injectable()
export class ExportsService {
  private readonly logger = new Logger('Exports');
  private readonly gate = new ConcurrencyGate(
    () => this.config.EXPORT_MAX_CONCURRENT,
    EXPORTS_BUSY.what,
    EXPORTS_BUSY.setting,
  );

  constructor(
    private readonly repo: ExportsRepository,
    private readonly config: AppConfig,
  ) {}

  /** `gone`: aborted when the client goes away (the export then stops and lets go of its connection). */
  exportList(
    app: AppRef,
    listType: ListType,
    format: ExportFormat,
    gone: AbortSignal,
  ): Promise<StreamedExport> {
    return this.run(
      `list ${listType}`,
      () => this.repo.copyList(app, listType, format),
      { format, basename: `${app.appId}-${listType}-${stamp()}` },
      gone,
    );
  }

  /** `from` and `to`: RFC 3339 texts with a zone (validated by the DTO), from <= to. */
  exportAuditRecords(
    app: AppRef,
    range: { from?: string; to?: string },
    gone: AbortSignal,
  ): Promise<StreamedExport> {
    if (range.from && range.to && Date.parse(range.from) > Date.parse(range.to))
      throw ApiError.field('from', 'from must not be later than to');
    return this.run(
      'audit records',
      () => this.repo.copyAuditRecords(app, range),
      { format: 'ndjson', basename: `${app.appId}-audit-records-${stamp()}` },
      gone,
    );
  }

  private async run(
    what: string,
    open: () => Promise<Readable>,
    meta: Omit<StreamedExport, 'body'>,
    gone: AbortSignal,
  ): Promise<StreamedExport> {
    const release = this.gate.enter();
    try {
      const copy = await open();
      const started = Date.now();
      const body = new ExportStream(this.config.EXPORT_STALL_TIMEOUT_MS);
      const cut = () => body.destroy(new Error('the client went away'));
      if (gone.aborted) cut();
      else gone.addEventListener('abort', cut, { once: true });
      pipeline(copy, body, (err) => {
        gone.removeEventListener('abort', cut);
        release();
        const summary = `export of ${what}: ${body.bytes} bytes in ${Date.now() - started} ms`;
        if (!err) this.logger.debug(summary);
        else if (err instanceof ExportStalledError)
          this.logger.warn(`${summary}, cut: ${err.message}`);
        else this.logger.warn(`${summary}, not finished: ${err.message}`);
      });
      // Fails here (so the error gets its status) when the COPY fails before its first row.
      await body.ready;
      return { body, ...meta };
    } catch (e) {
      release();
      throw e;
    }
  }
}

/** UTC time for file names: 20261122T100000Z. */
function stamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
