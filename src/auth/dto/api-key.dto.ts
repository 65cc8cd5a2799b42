import { ApiProperty } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsEnum,
  IsString,
  Length,
  Matches,
} from 'class-validator';
import { Scope } from '../api-key.entity.js';

export class CreateApiKeyRequestDto {
  @ApiProperty({ description: 'What the key is for', example: 'billing-service', maxLength: 100 })
  @IsString()
  @Length(1, 100)
  // eslint-disable-next-line no-control-regex
  @Matches(/^[^\u0000-\u001f\u007f]+$/, { message: 'name must not contain control characters' })
  name: string;

  @ApiProperty({
    enum: Scope,
    enumName: 'ApiKeyScope',
    isArray: true,
    description: 'read: GET and check endpoints; write: add and remove consents; admin: everything',
    example: ['read', 'write'],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @ArrayUnique()
  @IsEnum(Scope, { each: true, message: 'each scope must be one of read, write, admin' })
  scopes: Scope[];
}

export class ApiKeyResponseDto {
  @ApiProperty({ example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  key_id: string;

  @ApiProperty({ example: 'billing-service' })
  name: string;

  @ApiProperty({ enum: Scope, enumName: 'ApiKeyScope', isArray: true, example: ['read', 'write'] })
  scopes: Scope[];

  @ApiProperty({ type: String, format: 'date-time', example: '2026-11-22T10:00:00.000Z' })
  created_at: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  revoked_at: string | null;
}

export class CreateApiKeyResponseDto extends ApiKeyResponseDto {
  @ApiProperty({
    description:
      'Shown once, stored only as a hash. Use it as a bearer token, or as the Sinch SDK keySecret (with key_id as keyId).',
    example: 'cg_01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A_6Yc2m9Q0r1w5l0bq3JQn8fG0bUe4x1kQ',
  })
  key_secret: string;
}

export class ApiKeyListResponseDto {
  @ApiProperty({ type: [ApiKeyResponseDto] })
  api_keys: ApiKeyResponseDto[];
}

export class KeyIdParams {
  @ApiProperty({ example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  @Matches(/^[0-9A-Z]{26}$/, { message: 'key_id must be a 26-character key id' })
  key_id: string;
}

export class TokenRequestDto {
  @ApiProperty({ enum: ['client_credentials'], example: 'client_credentials' })
  @IsString()
  @Matches(/^client_credentials$/, { message: 'grant_type must be client_credentials' })
  grant_type: string;
}

export class TokenResponseDto {
  @ApiProperty({
    description: 'A JWT (HS256) carrying the key id and scopes; use as a bearer token',
  })
  access_token: string;

  @ApiProperty({ example: 3600 })
  expires_in: number;

  @ApiProperty({ example: 'bearer' })
  token_type: string;

  @ApiProperty({ example: 'read write' })
  scope: string;
}

/** Who the bearer token is: GET /v1/whoami. */
export class WhoamiResponseDto {
  @ApiProperty({
    description: 'The API key id; "admin" for ADMIN_API_KEY (and its access tokens)',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  key_id: string;

  @ApiProperty({
    enum: Scope,
    enumName: 'ApiKeyScope',
    isArray: true,
    description: "The token's scopes (admin implies every scope)",
    example: ['read'],
  })
  scopes: Scope[];
}
