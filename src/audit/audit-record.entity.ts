import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';
import {
  AuditRecordKind,
  ListType,
  Operation,
  Origin,
  Outcome,
} from '../consent/domain/consent-types.js';

/**
 * Append-only: the database refuses UPDATE, DELETE and TRUNCATE on this table (migration trigger).
 * Consent changes (kind CONSENT_CHANGE) always have list_type, origin, operation and outcome; the
 * other kinds leave them null where they do not apply. Only settings changes (SETTINGS_CHANGE,
 * about the app) have no identity.
 */
@Entity({ name: 'consent_audit' })
@Index('consent_audit_identity_idx', ['project_id', 'app_id', 'identity', 'id'])
/**
 * The records that set a list's state (applied changes and event-time repairs), covering what
 * the point-in-time check reads: (project_id, app_id, identity, list_type, id) INCLUDE
 * (operation, recorded_at), partial. TypeORM cannot describe INCLUDE: migration 1764700000000
 * owns it.
 */
@Index('consent_audit_state_change_idx', { synchronize: false })
@Check(
  'consent_audit_kind_check',
  `kind IN ('CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'REPLY_FAILED', 'EVENT_TIME_REPAIRED', 'REPLY_IN_DOUBT', 'SETTINGS_CHANGE', 'ERASURE')`,
)
@Check('consent_audit_identity_check', `identity IS NOT NULL OR kind = 'SETTINGS_CHANGE'`)
@Check('consent_audit_identity_key_check', `identity IS NULL OR identity_key IS NOT NULL`)
/**
 * The hash chain: one record per position of each lane of each app's chain (migrations
 * 1764800000000, 1765200000000).
 */
@Index('consent_audit_chain_idx', ['project_id', 'app_id', 'chain_lane', 'chain_seq'], {
  unique: true,
})
@Check('consent_audit_chain_lane_check', `chain_lane >= 0 AND chain_lane < 8`)
@Check(
  'consent_audit_consent_change_check',
  `kind <> 'CONSENT_CHANGE' OR (list_type IS NOT NULL AND origin IS NOT NULL
               AND operation IS NOT NULL AND outcome IS NOT NULL)`,
)
export class AuditRecordEntity extends AppScopedRow {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  /** Null only for SETTINGS_CHANGE (consent_audit_identity_check). */
  @Column({ type: 'varchar', length: 256, nullable: true })
  identity: string | null;

  @Column({ type: 'varchar', length: 24, default: AuditRecordKind.CONSENT_CHANGE })
  kind: AuditRecordKind;

  /** The list changed; for a reply, its keyword's list (null for HELP); else null. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  list_type: ListType | null;

  /** Set for consent changes and refused deliveries (ORIGIN_MO). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  origin: Origin | null;

  /** Consent changes only. */
  @Column({ type: 'varchar', length: 24, nullable: true })
  operation: Operation | null;

  /** Consent changes only. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  outcome: Outcome | null;

  /**
   * Who asked: an API key id, "admin", or the channel for MO changes and refused deliveries
   * ("sinch:SMS"); "consent-gate" for the service's own confirmation replies and for the records
   * migrations write.
   */
  @Column({ type: 'varchar', length: 128 })
  actor: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  reason: string | null;

  @Column({ type: 'jsonb', nullable: true })
  evidence: unknown;

  @Column({ type: 'varchar', length: 64, nullable: true })
  batch_id: string | null;

  @Column({ type: 'timestamptz' })
  event_time: Date;

  /**
   * The event time claimed when it was later than the arrival, so not used (event_time is the
   * arrival then); for EVENT_TIME_REPAIRED, the future event time repaired. Else null.
   */
  @Column({ type: 'timestamptz', nullable: true })
  claimed_event_time: Date | null;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  recorded_at: Date;

  /** The import that made this change, else null. */
  @Column({ type: 'varchar', length: 26, nullable: true })
  import_id: string | null;

  /** Where the change came from before it reached us, as its import row said (e.g. "twilio"). */
  @Column({ type: 'varchar', length: 128, nullable: true })
  source: string | null;

  /**
   * The hash chain (migration 1764800000000; all four set by its trigger on insert, never by the
   * service): HMAC-SHA256 of the identity with the service's identity key (null without an
   * identity), the record's position in its app's chain (1, 2, ...), the previous record's hash
   * (32 zero bytes for the first) and SHA-256(prev_hash || canonical encoding), see
   * audit/domain/audit-chain.ts.
   */
  @Column({ type: 'bytea', nullable: true, insert: false, update: false })
  identity_key: Buffer | null;

  @Column({ type: 'bigint', insert: false, update: false })
  chain_seq: string;

  /**
   * The record's lane (migration 1765200000000): an app's trail is up to AUDIT_CHAIN_LANES
   * chains, each with positions 1, 2, ...; a transaction writes one lane (the first free one).
   */
  @Column({ type: 'smallint', default: 0, insert: false, update: false })
  chain_lane: number;

  /**
   * After an erasure (migration 1765000000000): the SHA-256 of the reason and of the evidence
   * (its jsonb text) that were removed, which the chain keeps covering. Null otherwise.
   */
  @Column({ type: 'bytea', nullable: true, insert: false, update: false })
  reason_digest: Buffer | null;

  @Column({ type: 'bytea', nullable: true, insert: false, update: false })
  evidence_digest: Buffer | null;

  @Column({ type: 'bytea', insert: false, update: false })
  prev_hash: Buffer;

  @Column({ type: 'bytea', insert: false, update: false })
  hash: Buffer;
}
