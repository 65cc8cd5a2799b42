import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { tooBusy } from '../common/concurrency-gate.js';
import { AppParams } from '../common/params.dto.js';
import { AppConfig } from '../config/app-config.js';
import { ImportFormat } from './import.entity.js';
import { ImportsService, noSuchImport, tooLarge, UPLOADS_BUSY } from './imports.service.js';
import {
  ImportAcceptedDto,
  ImportErrorPageDto,
  ImportErrorsQueryDto,
  ImportIdParams,
  ImportQueryDto,
  ImportStatusDto,
} from './dto/imports.dto.js';

/** The media types of an import body, streamed (see bootstrap.ts: never buffered). */
export const IMPORT_MEDIA_TYPES: Record<string, ImportFormat> = {
  'text/csv': ImportFormat.CSV,
  'application/x-ndjson': ImportFormat.NDJSON,
};

/** The examples show the errors with the default settings. */
const DEFAULTS = new AppConfig();

const NO_SUCH_IMPORT = (): MethodDecorator =>
  ApiErrorResponse(404, 'No such import in this app', noSuchImport('01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A'));

const BODY_DESCRIPTION = `The file, streamed as the request body (e.g. \`curl --data-binary @optouts.csv\`), UTF-8.
CSV (text/csv): a header row, then one row per change; LF or CRLF line ends, RFC 4180 quoting, an optional BOM.
NDJSON (application/x-ndjson): one JSON object per line.
Fields: identity (required; normalised as by the API), list_type (required: OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION), action (OPT_OUT, the default, or OPT_IN), event_time (RFC 3339 with a zone, at most 5 minutes ahead, after 2000; default: when the row is applied), reason (at most 500 characters), source (at most 128 characters, e.g. "twilio"; kept in the audit record).
A list export's columns are accepted too: opted_out_since (another name for event_time), origin and audit_record_id (ignored).
Any other CSV column, or no identity or list_type column: 400. Blank lines are skipped.`;

const CSV_EXAMPLE =
  'identity,list_type,action,event_time,reason,source\n+46732001122,OPT_OUT_MARKETING,OPT_OUT,2025-11-02T09:30:00Z,STOP by SMS,twilio\n';

/** Bulk import of opt-outs and opt-ins, from a streamed CSV or NDJSON file. */
@ApiTags('Imports')
@Controller('v1/projects/:project_id/apps/:app_id/imports')
export class ImportsController {
  constructor(private readonly imports: ImportsService) {}

  @Post()
  @HttpCode(202)
  @RequireScope(Scope.WRITE)
  @ApiOperation({
    summary: 'Import a file of consent changes (CSV or NDJSON, streamed)',
    description:
      "Reads the body as it streams in, validates every row like the API (a bad row is rejected with its line number and applies nothing; the others go on) and answers 202 once the whole file is durably stored; a job then applies the rows (GET .../imports/{import_id} for progress). Each applied row is an ordinary consent change: event-time ordering, one audit record with origin ORIGIN_IMPORT, the import_id and the row's source, callbacks. Importing the same file again changes nothing (rows without event_time take the time they are applied, so a file whose rows for one identity and list disagree should carry event_time). A body larger than IMPORT_MAX_BYTES: 413; not CSV/NDJSON, no header, an unknown column, no data rows: 400; nothing is stored in either case. With dry_run=true the file is read and validated the same way and the counts are predicted from the current state, synchronously (200), and nothing is stored.",
  })
  @ApiConsumes(...Object.keys(IMPORT_MEDIA_TYPES))
  @ApiBody({
    description: BODY_DESCRIPTION,
    schema: { type: 'string', format: 'binary', example: CSV_EXAMPLE },
  })
  @ApiAcceptedResponse({
    type: ImportAcceptedDto,
    description: 'Stored; the Location header names the status URL',
  })
  @ApiOkResponse({ type: ImportStatusDto, description: 'dry_run=true: the predicted counts' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    413,
    'The file is larger than IMPORT_MAX_BYTES; nothing was stored',
    tooLarge(DEFAULTS.IMPORT_MAX_BYTES),
  )
  @ApiErrorResponse(
    429,
    'IMPORT_MAX_CONCURRENT uploads are already streaming in on this instance (Retry-After); nothing was read',
    tooBusy(DEFAULTS.IMPORT_MAX_CONCURRENT, UPLOADS_BUSY.what, UPLOADS_BUSY.setting),
  )
  async createImport(
    @Param() p: AppParams,
    @Query() q: ImportQueryDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @CurrentPrincipal() by: Principal,
  ): Promise<ImportAcceptedDto | ImportStatusDto> {
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const format = IMPORT_MEDIA_TYPES[mediaType];
    if (!format) {
      throw ApiError.invalidRequest(
        [{ field: 'content-type', description: 'must be text/csv or application/x-ndjson' }],
        'Not a consent import file: Content-Type must be text/csv or application/x-ndjson; nothing was stored.',
      );
    }
    const length = req.headers['content-length'];
    const result = await this.imports.upload(
      { projectId: p.project_id, appId: p.app_id },
      by.keyId,
      {
        format,
        body: req.raw,
        contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
        dryRun: q.dry_run === 'true',
      },
    );
    if (result.dryRun) {
      void reply.status(200);
      return result.view;
    }
    void reply.header(
      'location',
      `/v1/projects/${p.project_id}/apps/${p.app_id}/imports/${result.importId}`,
    );
    return { import_id: result.importId, status: result.status };
  }

  @Get(':import_id')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "An import's status and counts, with its first 100 rejected rows",
  })
  @ApiOkResponse({ type: ImportStatusDto, description: "The import's status" })
  @NO_SUCH_IMPORT()
  getImport(@Param() p: ImportIdParams): Promise<ImportStatusDto> {
    return this.imports.status({ projectId: p.project_id, appId: p.app_id }, p.import_id);
  }

  @Get(':import_id/errors')
  @RequireScope(Scope.READ)
  @ApiOperation({ summary: "All of an import's rejected rows, in line order, paged" })
  @ApiOkResponse({ type: ImportErrorPageDto, description: 'A page of rejected rows' })
  @NO_SUCH_IMPORT()
  async listImportErrors(
    @Param() p: ImportIdParams,
    @Query() q: ImportErrorsQueryDto,
  ): Promise<ImportErrorPageDto> {
    const page = await this.imports.errorsPage(
      { projectId: p.project_id, appId: p.app_id },
      p.import_id,
      q.page_size ?? 100,
      q.page_token,
    );
    return { errors: page.errors, next_page_token: page.nextPageToken };
  }
}
