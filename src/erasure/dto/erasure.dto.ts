import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

export class ErasureRequestDto {
  @ApiPropertyOptional({
    description:
      "The request's reference, kept on the ERASURE audit record (e.g. a ticket number). Free text, never the identity itself (refused if it contains it).",
    maxLength: 500,
    example: 'GDPR Art. 17 request, ticket 4711',
  })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class ErasureCountsDto {
  @ApiProperty({ description: 'consent_state rows now stored by the erased form', example: 2 })
  consent_states: number;
  @ApiProperty({
    description:
      'Audit records rewritten: identity by its erased form, reason and evidence by their SHA-256',
    example: 5,
  })
  audit_records: number;
  @ApiProperty({ description: 'Send attempts now stored by the erased form', example: 1 })
  send_attempts: number;
  @ApiProperty({
    description: 'Webhook deliveries now stored by the erased form, their details removed',
    example: 2,
  })
  webhook_deliveries: number;
  @ApiProperty({
    description: 'Jobs removed (queued or finished confirmation replies and callbacks naming it)',
    example: 1,
  })
  jobs: number;
  @ApiProperty({ description: 'Sinch contact identities removed', example: 1 })
  contact_identities: number;
  @ApiProperty({
    description: 'Staged import rows removed (each counted as a rejected row of its import)',
    example: 0,
  })
  import_rows: number;
}

export class ErasureResponseDto {
  @ApiProperty({
    description:
      'How the identity is stored from now on, wherever it was stored in clear: "erased:" and its keyed hash (HMAC-SHA256 with the service\'s identity key, hex). Lookups take it as the identity.',
    example: 'erased:3f1c9a7e5b2d4c68a1e0f9d7c6b5a4938271605f4e3d2c1b0a99887766554433',
  })
  erased_identity: string;
  @ApiProperty({
    description: "The identity's keyed hash (hex): what the audit chain covers",
    example: '3f1c9a7e5b2d4c68a1e0f9d7c6b5a4938271605f4e3d2c1b0a99887766554433',
  })
  identity_key: string;
  @ApiProperty({ description: 'The ERASURE audit record of this request', example: '1205' })
  audit_record_id: string;
  @ApiProperty({
    description: 'When the identity was first erased (RFC 3339)',
    example: '2026-12-02T09:00:00.000Z',
  })
  erased_at: string;
  @ApiProperty({
    description:
      'True when it had been erased before: this request removed what was stored in clear since (e.g. a later STOP), and is audited too',
    example: false,
  })
  already_erased: boolean;
  @ApiProperty({
    description: 'The lists it stays on (by its keyed hash): a check or send is still BLOCKED',
    example: ['OPT_OUT_ALL'],
    isArray: true,
    type: String,
  })
  lists: string[];
  @ApiProperty({ type: ErasureCountsDto, description: 'What was rewritten or removed, by table' })
  removed: ErasureCountsDto;
}
