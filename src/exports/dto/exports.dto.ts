import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, Matches } from 'class-validator';
import { ListType, Origin } from '../../consent/domain/consent-types.js';
import type { ExportFormat } from '../exports.repository.js';

export class ListExportQueryDto {
  @ApiPropertyOptional({
    enum: ['csv', 'ndjson'],
    description:
      'Overrides the Accept header (for browsers and plain curl): csv = text/csv, ndjson = application/x-ndjson',
  })
  @IsOptional()
  @IsIn(['csv', 'ndjson'], { message: 'format must be csv or ndjson' })
  format?: ExportFormat;
}

/** RFC 3339: a date-time with seconds and a zone (Z or ±hh:mm), optional fraction. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function Rfc3339(field: string): PropertyDecorator {
  const message = `${field} must be an RFC 3339 date-time with a zone, e.g. 2026-11-22T10:00:00Z`;
  return applyDecorators(
    IsOptional(),
    Matches(RFC3339, { message }),
    IsISO8601({ strict: true, strictSeparator: true }, { message }),
  );
}

export class AuditExportQueryDto {
  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Records with recorded_at at or after this instant (RFC 3339 with a zone)',
    example: '2026-11-01T00:00:00Z',
  })
  @Rfc3339('from')
  from?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description:
      'Records with recorded_at before this instant (RFC 3339 with a zone); not before from',
    example: '2026-12-01T00:00:00Z',
  })
  @Rfc3339('to')
  to?: string;
}

/** One line of the NDJSON list export; the CSV's columns, in the same order. */
export class ListExportRowDto {
  @ApiProperty({ description: 'Normalised identity', example: '46732001122' })
  identity: string;

  @ApiProperty({ enum: ListType, enumName: 'ConsentListType' })
  list_type: ListType;

  @ApiProperty({
    format: 'date-time',
    description: 'Event time at which the identity went on the list (RFC 3339, UTC, ms)',
    example: '2026-11-22T10:00:00.000Z',
  })
  opted_out_since: string;

  @ApiProperty({ enum: Origin, enumName: 'ConsentOrigin' })
  origin: Origin;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The source the change came with (an import row\'s source, e.g. "twilio")',
  })
  source: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The audit record of the change that put the identity on the list (GET .../audit-records); null only for entries older than that record',
    example: '42',
  })
  audit_record_id: string | null;
}
