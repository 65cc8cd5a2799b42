import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { tooBusy } from '../common/concurrency-gate.js';
import { validationErrorOf } from '../common/validation.js';
import { AppConfig } from '../config/app-config.js';
import { AppParams } from '../common/params.dto.js';
import { AuditRecordDto } from '../consent/dto/native-consents.dto.js';
import { ListTypeParams } from '../consent/dto/sinch-consents.dto.js';
import { AuditExportQueryDto, ListExportQueryDto, ListExportRowDto } from './dto/exports.dto.js';
import type { ExportFormat } from './exports.repository.js';
import { EXPORTS_BUSY, ExportsService, type StreamedExport } from './exports.service.js';
import { MEDIA_TYPES, negotiate } from './media-type.js';

const NOT_ACCEPTABLE = (offered: ExportFormat[]): MethodDecorator =>
  ApiErrorResponse(
    406,
    'The Accept header allows none of the media types the export is made in',
    notAcceptable(offered),
  );
const BUSY = (): MethodDecorator =>
  ApiErrorResponse(
    429,
    'EXPORT_MAX_CONCURRENT exports are already streaming on this instance (Retry-After)',
    tooBusy(new AppConfig().EXPORT_MAX_CONCURRENT, EXPORTS_BUSY.what, EXPORTS_BUSY.setting),
  );
const STREAMING =
  'Streamed as the database reads it (chunked), at constant memory. A failure after the first bytes cuts the connection (the body then lacks its end); a client that takes no data for EXPORT_STALL_TIMEOUT_MS is cut as well.';

/** Streaming exports (read scope): the identities on a list, and the app's audit trail. */
@ApiTags('Exports')
@ApiExtraModels(ListExportRowDto, AuditRecordDto)
@Controller('v1/projects/:project_id/apps/:app_id')
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  @Get('consents/:list_type(^[^/:]+)::export')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'Every identity on an opt-out list, as CSV or NDJSON',
    description: `In identity order. The format comes from ?format, else from Accept: text/csv (the default, also for */* or no Accept) or application/x-ndjson. CSV: a header row, then one row per identity (RFC 4180 quoting, LF line ends, an empty field for null). The columns are those the import reads (POST .../imports), so an export re-imports as is. ${STREAMING}`,
  })
  @ApiProduces(MEDIA_TYPES.csv.accepts[0]!, MEDIA_TYPES.ndjson.accepts[0]!)
  @ApiOkResponse({
    description: 'The list; Content-Disposition names a file',
    content: {
      'text/csv': {
        schema: {
          type: 'string',
          description:
            'Header row identity,list_type,opted_out_since,origin,source,audit_record_id, then one row per identity (the fields of ListExportRowDto)',
          example:
            'identity,list_type,opted_out_since,origin,source,audit_record_id\n46732001122,OPT_OUT_MARKETING,2026-11-22T10:00:00.000Z,ORIGIN_API,,42\n',
        },
      },
      'application/x-ndjson': {
        schema: {
          description: 'One JSON object a line (newline-terminated), each a ListExportRowDto',
          allOf: [{ $ref: getSchemaPath(ListExportRowDto) }],
        },
      },
    },
  })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @NOT_ACCEPTABLE(['csv', 'ndjson'])
  @BUSY()
  async exportList(
    @Param() p: ListTypeParams,
    @Query() q: ListExportQueryDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const format = q.format ?? acceptable(req, ['csv', 'ndjson']);
    const gone = goneSignal(reply);
    const streamed = await this.exports.exportList(app(p), p.list_type, format, gone);
    send(reply, streamed);
  }

  @Get('audit-records::export')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "The app's audit trail, as NDJSON",
    description: `Every record of the app (every kind), in id (recording) order, each line exactly what the audit records API answers for it (AuditRecordDto). Only those with recorded_at in [from, to) when given. ${STREAMING}`,
  })
  @ApiProduces(MEDIA_TYPES.ndjson.accepts[0]!)
  @ApiOkResponse({
    description: 'The records; Content-Disposition names a file',
    content: {
      'application/x-ndjson': {
        schema: {
          description: 'One JSON object a line (newline-terminated), each an AuditRecordDto',
          allOf: [{ $ref: getSchemaPath(AuditRecordDto) }],
        },
      },
    },
  })
  @ApiErrorResponse(
    400,
    'A bad from / to, or from > to',
    validationErrorOf(AuditExportQueryDto, { from: '2026-11-01' }),
  )
  @NOT_ACCEPTABLE(['ndjson'])
  @BUSY()
  async exportAuditRecords(
    @Param() p: AppParams,
    @Query() q: AuditExportQueryDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    acceptable(req, ['ndjson']);
    const gone = goneSignal(reply);
    const streamed = await this.exports.exportAuditRecords(
      app(p),
      { from: q.from, to: q.to },
      gone,
    );
    send(reply, streamed);
  }
}

const app = (p: AppParams) => ({ projectId: p.project_id, appId: p.app_id });

/** The format the request's Accept asks for among `offered`, else 406. */
function acceptable(req: FastifyRequest, offered: ExportFormat[]): ExportFormat {
  const format = negotiate(req.headers.accept, offered);
  if (format) return format;
  throw notAcceptable(offered);
}

/** The 406 of an Accept header that allows none of `offered`. */
function notAcceptable(offered: ExportFormat[]): ApiError {
  const types = offered.map((f) => MEDIA_TYPES[f].accepts[0]).join(' or ');
  return new ApiError(
    406,
    'INVALID_ARGUMENT',
    `This export is made in ${types}, which the Accept header does not allow.`,
    [
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        field_violations: [{ field: 'Accept', description: `must allow ${types}` }],
      },
    ],
  );
}

/** Aborted when the response closes before it is complete (the client went away). */
function goneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

function send(reply: FastifyReply, e: StreamedExport): void {
  const media = MEDIA_TYPES[e.format];
  void reply
    .status(200)
    .header('content-type', media.contentType)
    .header('content-disposition', `attachment; filename="${e.basename}.${media.ext}"`)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .send(e.body);
}
