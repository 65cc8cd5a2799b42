import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class LaneVerifiedDto {
  @ApiProperty({ description: 'The lane (0 to 7)', example: 0 })
  lane: number;

  @ApiProperty({ description: 'The records of the lane', example: 1204 })
  records: number;

  @ApiProperty({ description: "The lane's head: its position", example: '1204' })
  chain_seq: string;

  @ApiProperty({ description: "The lane's head: its record id", example: '1204' })
  head_record_id: string;

  @ApiProperty({
    description: "The lane's head: its hash, hex",
    example: '9f2c6a1d0b7e4f3a8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
  })
  head_hash: string;
}

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

  @ApiProperty({
    description:
      "The app's stored checkpoints checked against the chain (each one's signature, and the hash at the position it signed)",
    example: 3,
  })
  checkpoints: number;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      "Only when verified: the id of the last record of the chain's lane 0 (null for an empty chain). An app's chain has up to 8 lanes (see lanes): writers of one app that overlap write different lanes",
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
    type: [LaneVerifiedDto],
    description:
      "Only when verified: every lane of the app's chain that has records, in lane order, with its head (each lane is a hash chain of its own: positions 1, 2, ..., each record linking to the lane's previous one)",
  })
  lanes?: LaneVerifiedDto[];

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

export class LaneHeadDto {
  @ApiProperty({ description: 'The lane (1 to 7)', example: 1 })
  lane: number;

  @ApiProperty({ description: "The lane's head: its position", example: '17' })
  chain_seq: string;

  @ApiProperty({ description: "The lane's head: its record id", example: '1199' })
  record_id: string;

  @ApiProperty({
    description: "The lane's head: its hash, hex",
    example: '4b1e8a0c7d2f5e3a9b6c1d0e8f7a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c',
  })
  head_hash: string;
}

export class AuditCheckpointDto {
  @ApiProperty({ example: '12' })
  checkpoint_id: string;

  @ApiProperty({ example: 'my-project' })
  project_id: string;

  @ApiProperty({ example: '01EB37HMH1M6SV18ABNS3G135H' })
  app_id: string;

  @ApiProperty({
    description:
      "The id of the head of the chain's lane 0 the checkpoint signs ('0' when lane 0 has no record yet)",
    example: '1204',
  })
  record_id: string;

  @ApiProperty({
    description: "That head's position in lane 0 ('0' when lane 0 has no record yet)",
    example: '1204',
  })
  chain_seq: string;

  @ApiProperty({
    description: "The head's hash (hex)",
    example: '9f2c6a1d0b7e4f3a8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
  })
  head_hash: string;

  @ApiProperty({ example: '2026-12-02T07:00:00.000Z' })
  signed_at: string;

  @ApiProperty({
    description:
      'The signing key (GET /v1/audit-signing-key): SHA-256 of its raw public key, first 16 hex digits',
    example: '3f1c9a7e5b2d4c68',
  })
  key_id: string;

  @ApiProperty({
    description: 'The raw Ed25519 public key that made the signature, base64',
    example: 'C1nAqvdWMhlPZ6n4sJ4Jx3hb0Y1X0c2iA8p6cGZfN4Q=',
  })
  public_key: string;

  @ApiProperty({
    description: 'Ed25519 signature of signed_text (UTF-8), base64',
    example:
      'mX0R4T3e0YvN2b3Uq6S8pQ1wZ5k7j9h2g4f6d8s0a1c3e5g7i9k1m3o5q7s9u1w3y5A7C9E1G3I5K7M9O1Q3S5U7W9Yw==',
  })
  signature: string;

  @ApiProperty({
    description:
      'The exact text signed: the JSON array ["consent-gate-checkpoint-v1", project_id, app_id, chain_seq, record_id, head_hash, signed_at, key_id]; when the chain has other lanes, ["consent-gate-checkpoint-v2", the same seven, [[lane, chain_seq, record_id, head_hash], ...]] (every element a string)',
    example:
      '["consent-gate-checkpoint-v1","my-project","01EB37HMH1M6SV18ABNS3G135H","1204","1204","9f2c...","2026-12-02T07:00:00.000Z","3f1c9a7e5b2d4c68"]',
  })
  signed_text: string;

  @ApiPropertyOptional({
    type: [LaneHeadDto],
    description:
      "The heads of the chain's other lanes, in lane order, signed with lane 0's (absent: the chain has lane 0 only)",
  })
  lanes?: LaneHeadDto[];
}

export class AuditCheckpointPageDto {
  @ApiProperty({ type: [AuditCheckpointDto], description: 'Newest first' })
  checkpoints: AuditCheckpointDto[];

  @ApiProperty({ description: 'Empty on the last page', example: '' })
  next_page_token: string;
}

export class SigningKeyDto {
  @ApiProperty({ example: '3f1c9a7e5b2d4c68' })
  key_id: string;

  @ApiProperty({ enum: ['Ed25519'], example: 'Ed25519' })
  algorithm: 'Ed25519';

  @ApiProperty({
    description: 'The raw 32-byte public key, base64',
    example: 'C1nAqvdWMhlPZ6n4sJ4Jx3hb0Y1X0c2iA8p6cGZfN4Q=',
  })
  public_key: string;

  @ApiProperty({
    description: 'The same key as SPKI PEM (for openssl and most libraries)',
    example:
      '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAC1nAqvdWMhlPZ6n4sJ4Jx3hb0Y1X0c2iA8p6cGZfN4Q=\n-----END PUBLIC KEY-----\n',
  })
  public_key_pem: string;

  @ApiProperty({
    enum: ['AUDIT_SIGNING_KEY', 'generated'],
    description:
      'Configured (AUDIT_SIGNING_KEY), or generated at the first boot and kept in the database',
  })
  source: 'AUDIT_SIGNING_KEY' | 'generated';
}
