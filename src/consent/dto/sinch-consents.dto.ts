import { PageSize, PageToken } from '../../common/page-query.dto.js';
import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsEnum,
  IsString,
  Matches,
  ValidateNested,
} from 'class-validator';
import { RESOURCE_ID_PATTERN } from '../../common/ids.js';
import { AppParams } from '../../common/params.dto.js';
import { ListType, Operation, Origin } from '../domain/consent-types.js';

export const MAX_BATCH_RECORDS = 1000;

const LIST_TYPE_RULE = (field: string): string =>
  `${field} must be one of OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION`;

/** A consent list field (`list_type`, `consent_type`): one of the ListType names. */
export function IsListType(field: string, example: ListType): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ enum: ListType, enumName: 'ConsentListType', example }),
    IsEnum(ListType, { message: LIST_TYPE_RULE(field) }),
  );
}

/**
 * The `list_type` path parameter. Its enum is inline, not the ConsentListType $ref: OpenAPI
 * ignores the siblings of a $ref, the example among them.
 */
export function IsListTypeParam(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({
      enum: ListType,
      description: 'An opt-out list',
      example: ListType.OPT_OUT_MARKETING,
    }),
    IsEnum(ListType, { message: LIST_TYPE_RULE('list_type') }),
  );
}

export class ListTypeParams extends AppParams {
  @IsListTypeParam()
  list_type: ListType;
}

export class IdentityParams extends AppParams {
  @ApiProperty({
    description: 'Channel identity; phone numbers in any common format ("+46 73-200 11 22")',
    example: '46732001122',
  })
  @IsString()
  identity: string;
}

/** Sinch's paging: default 10, at most 50. */
export class ListIdentitiesQueryDto {
  @PageSize(50, 10)
  page_size?: number;

  @PageToken()
  page_token?: string;
}

export class ConsentIdentityDto {
  @ApiProperty({ example: '46732001122' })
  identity: string;
}

export class ListIdentitiesResponseDto {
  @ApiProperty({ type: [ConsentIdentityDto] })
  identities: ConsentIdentityDto[];

  @ApiProperty({ description: 'Empty on the last page', example: '' })
  next_page_token: string;
}

export class SinchAuditRecordDto {
  @ApiProperty({ enum: Origin, enumName: 'ConsentOrigin', example: Origin.ORIGIN_API })
  origin: Origin;

  @ApiProperty({
    enum: Operation,
    enumName: 'ConsentOperation',
    example: Operation.OPERATION_INSERT,
  })
  operation: Operation;

  @ApiProperty({ enum: ListType, enumName: 'ConsentListType', example: ListType.OPT_OUT_ALL })
  list_type: ListType;

  @ApiProperty({ example: 'c36f3d3d-1523-4edd-ae42-11995557ff61' })
  project_id: string;

  @ApiProperty({ example: '01EB37HMH1M6SV18ABNS3G135H' })
  app_id: string;

  @ApiProperty({
    description: 'Event time of the change',
    format: 'date-time',
    example: '2026-11-22T10:00:00.000Z',
  })
  datetime: string;
}

export class AuditRecordsListResponseDto {
  @ApiProperty({ type: ConsentIdentityDto })
  identity: ConsentIdentityDto;

  @ApiProperty({ type: [SinchAuditRecordDto] })
  audit_records: SinchAuditRecordDto[];
}

export class ConsentRecordDto {
  @ApiProperty({
    description: 'The identity (phone number or channel id)',
    example: '+46732001122',
  })
  @IsString({ message: 'identification must be a string' })
  identification: string;

  @IsListType('consent_type', ListType.OPT_OUT_MARKETING)
  consent_type: ListType;
}

export class BatchInsertConsentsRequestDto {
  @ApiProperty({ example: '01EB37HMH1M6SV18ABNS3G135H' })
  @Matches(RESOURCE_ID_PATTERN, {
    message: 'app_id must be 1-64 characters of letters, digits, ".", "_", ":" or "-"',
  })
  app_id: string;

  @ApiProperty({ type: [ConsentRecordDto], minItems: 1, maxItems: MAX_BATCH_RECORDS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_RECORDS)
  @ValidateNested({ each: true })
  @Type(() => ConsentRecordDto)
  consent_records: ConsentRecordDto[];
}

export class BatchInsertConsentsResponseDto {
  @ApiProperty({ example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  batch_id: string;
}
