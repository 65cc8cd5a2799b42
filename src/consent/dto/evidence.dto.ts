import { ApiProperty } from '@nestjs/swagger';
import type { ChainSegment, EvidenceBundle, EvidenceRecord } from '../../audit/domain/evidence.js';
import { IdentityStateResponseDto } from './native-consents.dto.js';

/** GET .../identities/{identity}:evidence (the shape of domain/evidence.ts EvidenceBundle). */
export class EvidenceBundleDto implements EvidenceBundle {
  @ApiProperty({
    description:
      'consent-gate-evidence-v2 (npm run verify-evidence also checks the v1 bundles of earlier versions: one segment, `chain`, of lane 0)',
    example: 'consent-gate-evidence-v2',
  })
  format: string;

  @ApiProperty({ example: '2026-12-02T07:30:00.000Z' })
  generated_at: string;

  @ApiProperty({ example: 'my-project' })
  project_id: string;

  @ApiProperty({ example: '01EB37HMH1M6SV18ABNS3G135H' })
  app_id: string;

  @ApiProperty({
    description:
      'Normalised identity; once erased, its stored form (erased:<identity_key>), which the records carry',
    example: '46732001122',
  })
  identity: string;

  @ApiProperty({
    description:
      "The service's keyed hash of the identity (HMAC-SHA256, hex): what the chain covers",
    example: 'a3f1...',
  })
  identity_key: string;

  @ApiProperty({
    type: IdentityStateResponseDto,
    description: 'The current lists, as GET .../identities/{identity}',
  })
  state: IdentityStateResponseDto;

  @ApiProperty({
    description:
      'Every audit record about the identity, in chain order (lane, then position), with its clear values (evidence_text: the evidence as stored, the text its digest covers), chain_lane and chain_seq; an erased record has reason and evidence_text null and carries reason_sha256 / evidence_sha256, the digests the chain covers',
    type: 'array',
    items: { type: 'object' },
  })
  records: EvidenceRecord[];

  @ApiProperty({
    description:
      "For each lane of the app's chain that holds records of the identity, in lane order, the lane from the identity's first record in it to the checkpoint's head of that lane: lane, prev_hash (the hash before the segment) and links, each the record's chained fields (see the README's Proof section: identities as keyed hashes, free texts as digests) and hash",
    type: 'array',
    items: {
      type: 'object',
      properties: {
        lane: { type: 'integer' },
        prev_hash: { type: 'string' },
        links: { type: 'array', items: { type: 'object' } },
      },
    },
  })
  chains: ChainSegment[];

  @ApiProperty({
    description:
      "The earliest signed checkpoint that covers the identity's last record in each lane (AuditCheckpointDto without signed_text; lanes: the heads of lanes other than 0)",
    type: 'object',
    additionalProperties: true,
  })
  checkpoint: EvidenceBundle['checkpoint'];

  @ApiProperty({
    description:
      "The service's current signing key (pin it; the checkpoint carries the key that signed it)",
    type: 'object',
    properties: { key_id: { type: 'string' }, public_key: { type: 'string' } },
  })
  signing_key: { key_id: string; public_key: string };
}
