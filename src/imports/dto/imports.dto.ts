import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { AppParams } from '../../common/params.dto.js';
import { PageSize, PageToken } from '../../common/page-query.dto.js';
import { ImportFormat, ImportStatus } from '../import.entity.js';

/** An import id: a ULID. */
export const IMPORT_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export class ImportIdParams extends AppParams {
  @ApiProperty({ description: 'Id of an import (a ULID)', example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  @Matches(IMPORT_ID_PATTERN, { message: 'import_id must be a 26-character import id' })
  import_id: string;
}

export class ImportQueryDto {
  @ApiPropertyOptional({
    enum: ['true', 'false'],
    default: 'false',
    description:
      'true: read and validate the file and predict the counts (answered at once, 200), storing nothing',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'dry_run must be true or false' })
  dry_run?: 'true' | 'false';
}

export class ImportErrorsQueryDto {
  @PageSize(1000, 100)
  page_size?: number;

  @PageToken()
  page_token?: string;
}

export class ImportErrorDto {
  @ApiProperty({
    description:
      'The physical line the rejected row starts on (1-based; in a CSV file the header is line 1, and a quoted field may make a row span several lines)',
    example: 7,
  })
  line: number;

  @ApiProperty({
    description: 'The field at fault ("" for the row as a whole)',
    example: 'list_type',
  })
  field: string;

  @ApiProperty({
    description: 'Why the row was rejected (never repeats the value)',
    example: 'must be one of OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION',
  })
  description: string;
}

export class ImportAcceptedDto {
  @ApiProperty({ example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  import_id: string;

  @ApiProperty({ enum: [ImportStatus.RUNNING], example: ImportStatus.RUNNING })
  status: ImportStatus;
}

export class ImportStatusDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'null for a dry run (nothing is stored)',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  import_id: string | null;

  @ApiProperty({
    enum: [ImportStatus.RUNNING, ImportStatus.SUCCEEDED, ImportStatus.FAILED],
    enumName: 'ImportStatus',
  })
  status: ImportStatus;

  @ApiProperty({ enum: ImportFormat, enumName: 'ImportFormat' })
  format: ImportFormat;

  @ApiProperty({ description: 'true for the answer of a dry run' })
  dry_run: boolean;

  @ApiProperty({ description: 'Data rows read (blank lines are not rows)' })
  rows_read: number;

  @ApiProperty({ description: 'Rows that changed a consent (so far, while RUNNING)' })
  applied: number;

  @ApiProperty({ description: 'Rows whose identity already was in the requested state' })
  no_change: number;

  @ApiProperty({
    description:
      'Rows older (by event_time) than the change already applied: recorded, not applied',
  })
  superseded: number;

  @ApiProperty({ description: 'Bad rows: nothing applied, each listed in errors' })
  rejected: number;

  @ApiProperty({
    type: [ImportErrorDto],
    description: 'The first 100 rejected rows in line order (GET .../errors pages all of them)',
  })
  errors: ImportErrorDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Why the import FAILED, else null' })
  error: string | null;

  @ApiProperty({ example: '2026-01-05T10:00:00.000Z' })
  created_at: string;

  @ApiProperty({ type: String, nullable: true, example: '2026-01-05T10:00:42.000Z' })
  finished_at: string | null;
}

export class ImportErrorPageDto {
  @ApiProperty({ type: [ImportErrorDto] })
  errors: ImportErrorDto[];

  @ApiProperty({ description: 'Token of the next page; "" on the last page' })
  next_page_token: string;
}
