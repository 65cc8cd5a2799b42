import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class AuditVerifyResponseDto {
  @ApiProperty({
    description:
      "true: every record of the app's chain, from the first to the head, is at its position, links to the one before it and hashes to its stored hash from its stored values (and each clear identity to its keyed hash). false: the first record where that fails",
    example: true,
  })
  verified: boolean;

  @ApiProperty({
    description: 'The records verified (when false: the good ones before first_bad_record_id)',
    example: 1204,
  })
  records: number;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: "Only when verified: the id of the chain's last record (null for an empty chain)",
    example: '1204',
  })
  head_record_id?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'Only when verified: the hash of that record, hex (null for an empty chain)',
    example: '9f2c6a1d0b7e4f3a8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
  })
  head_hash?: string | null;

  @ApiPropertyOptional({
    description:
      'Only when not verified: the id of the first record in chain order that fails (a changed record, the record after a deleted one, an inserted or moved one)',
    example: '977',
  })
  first_bad_record_id?: string;

  @ApiPropertyOptional({
    description: 'Only when not verified: what fails there',
    example: 'the stored values do not hash to the stored hash (the record was changed)',
  })
  reason?: string;
}
