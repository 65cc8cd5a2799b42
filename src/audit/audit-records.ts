// Every kind of audit record, built here and nowhere else: one builder per kind, each returning
// the NewAuditRecord that AuditRepository.append writes. A new kind gets its builder here (and its
// name in AuditRecordKind and the consent_audit_kind_check constraint).
import type { AppRef } from '../kernel/app-ref.js';
import { AuditRecordKind, ConsentMode, ListType, Origin } from '../consent/domain/consent-types.js';
import type { MatchingProfile } from '../keywords/domain/keyword-types.js';
import type { AuditRecordEntity } from './audit-record.entity.js';

type Row = AuditRecordEntity;

/** One row of consent_audit, as AuditRepository.append writes it. */
export interface NewAuditRecord {
  /** CONSENT_CHANGE needs listType, origin, operation and outcome (DB check). */
  kind: Row['kind'];
  projectId: string;
  appId: string;
  /** Null only for SETTINGS_CHANGE (database check). */
  identity: string | null;
  listType: Row['list_type'];
  origin: Row['origin'];
  operation: Row['operation'];
  outcome: Row['outcome'];
  actor: string;
  reason: string | null;
  evidence: unknown;
  batchId: string | null;
  eventTime: Date;
  /** A consent change's claimed event time when it was later than its arrival (clamped). */
  claimedEventTime?: Date | null;
  /** The import that made a consent change, else absent. */
  importId?: string | null;
  /** A consent change's source, as its import row gave it, else absent. */
  source?: string | null;
}

/**
 * A requested consent change, whatever its outcome (also no-ops and superseded changes): who
 * asked (ctx), what was asked (change, identity already normalised) and what it did (plan: the
 * event time stored, clamped to the arrival, and the claim when it was clamped).
 */
export function consentChangeRecord(
  ctx: { app: AppRef; origin: Origin; actor: string; batchId?: string; importId?: string },
  change: {
    identity: string;
    listType: ListType;
    reason?: string | null;
    evidence?: unknown;
    source?: string | null;
  },
  plan: {
    operation: NonNullable<Row['operation']>;
    outcome: NonNullable<Row['outcome']>;
    eventTime: Date;
    claimedEventTime: Date | null;
  },
): NewAuditRecord {
  return {
    kind: AuditRecordKind.CONSENT_CHANGE,
    projectId: ctx.app.projectId,
    appId: ctx.app.appId,
    identity: change.identity,
    listType: change.listType,
    origin: ctx.origin,
    operation: plan.operation,
    outcome: plan.outcome,
    actor: ctx.actor,
    reason: change.reason ?? null,
    evidence: change.evidence ?? null,
    batchId: ctx.batchId ?? null,
    eventTime: plan.eventTime,
    claimedEventTime: plan.claimedEventTime,
    importId: ctx.importId ?? null,
    source: change.source ?? null,
  };
}

/**
 * A FAILED Sinch delivery report whose reason says the recipient refused the message: proof of
 * the refusal next to the consent changes (consent itself is unchanged).
 */
export function deliveryRefusedRecord(d: {
  app: AppRef;
  /** Already normalised. */
  identity: string;
  channel: string | null;
  messageId: string;
  status: string;
  reasonCode: string;
  eventTime: Date;
}): NewAuditRecord {
  return {
    kind: AuditRecordKind.DELIVERY_REFUSED,
    projectId: d.app.projectId,
    appId: d.app.appId,
    identity: d.identity,
    listType: null,
    origin: Origin.ORIGIN_MO,
    operation: null,
    outcome: null,
    actor: d.channel ? `sinch:${d.channel}` : 'sinch',
    reason: `delivery report FAILED: ${d.reasonCode}`,
    evidence: {
      message_id: d.messageId,
      status: d.status,
      reason_code: d.reasonCode,
      channel: d.channel,
    },
    batchId: null,
    eventTime: d.eventTime,
  };
}

/** What a settings change leaves: the settings after it, never a secret (only their count). */
export interface SettingsChangeEvidence {
  mode: ConsentMode;
  matching_profile: MatchingProfile;
  auto_reply: boolean;
  /** The languages whose reply texts are overridden, sorted (never the texts). */
  reply_languages: string[];
  webhook_secrets_count: number;
  /**
   * The mode in effect before: the stored one, or the instance's DEFAULT_MODE for a new app
   * (null in the records migration 1764700000000 reconstructed: unknown).
   */
  previous_mode: ConsentMode | null;
  /** The settings this change set to a new value, in a fixed order. */
  changed: string[];
}

/**
 * A change of an app's consent settings (PUT consent-settings that changed something), recorded
 * in the transaction that stores it: no identity, no list. The point-in-time check reads the
 * app's mode at an instant from these (evidence.mode).
 */
export function settingsChangeRecord(d: {
  app: AppRef;
  /** API key id or "admin". */
  actor: string;
  evidence: SettingsChangeEvidence;
  eventTime: Date;
}): NewAuditRecord {
  return {
    kind: AuditRecordKind.SETTINGS_CHANGE,
    projectId: d.app.projectId,
    appId: d.app.appId,
    identity: null,
    listType: null,
    origin: null,
    operation: null,
    outcome: null,
    actor: d.actor,
    reason: `consent settings changed: ${d.evidence.changed.join(', ')}`,
    evidence: d.evidence,
    batchId: null,
    eventTime: d.eventTime,
  };
}

/**
 * An erasure of an identity (stored by its erased form from then on): who asked, and the
 * request's reference (e.g. a ticket number), never the identity.
 */
export function erasureRecord(d: {
  app: AppRef;
  erasedIdentity: string;
  actor: string;
  reason: string | null;
  eventTime: Date;
}): NewAuditRecord {
  return {
    kind: AuditRecordKind.ERASURE,
    projectId: d.app.projectId,
    appId: d.app.appId,
    identity: d.erasedIdentity,
    listType: null,
    origin: Origin.ORIGIN_API,
    operation: null,
    outcome: null,
    actor: d.actor,
    reason: d.reason,
    evidence: undefined,
    batchId: null,
    eventTime: d.eventTime,
  };
}
