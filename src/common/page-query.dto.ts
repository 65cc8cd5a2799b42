import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

/** `page_size` query parameter: an integer from 1 to `max`, `fallback` when absent. */
export function PageSize(max: number, fallback: number): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ minimum: 1, maximum: max, default: fallback, example: fallback }),
    IsOptional(),
    Type(() => Number),
    IsInt({ message: 'page_size must be an integer' }),
    Min(1, { message: 'page_size must be at least 1' }),
    Max(max, { message: `page_size must be at most ${max}` }),
  );
}

/** `page_token` query parameter: the next_page_token of the previous page. */
export function PageToken(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description: 'next_page_token of the previous page' }),
    IsOptional(),
    IsString(),
    MaxLength(2048),
  );
}

/** Paging of the service's own list endpoints: up to 100 per page, 50 by default. */
export class PageQueryDto {
  @PageSize(100, 50)
  page_size?: number;

  @PageToken()
  page_token?: string;
}
