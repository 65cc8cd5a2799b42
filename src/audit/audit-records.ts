// Every kind of audit record, built here and nowhere else: one builder per kind, each returning
// the NewAuditRecord that AuditRepository.append writes. A new kind gets its builder here (and its
// name in AuditRecordKind and the consent_audit_kind_check constraint).
import type { AppRef } from '../kernel/app-ref.js';
import {
  AuditRecordKind,
  ListType,
  Operation,
  Origin,
  Outcome,
} from '../consent/domain/consent-types.js';

/** One row of consent_audit, as AuditRepository.append writes it. */
export interface NewAuditRecord {
  /** CONSENT_CHANGE needs listType, origin, operation and outcome (DB check). */
  kind: AuditRecordKind;
  projectId: string;
  appId: string;
  identity: string;
  listType: ListType | null;
  origin: Origin | null;
  operation: Operation | null;
  outcome: Outcome | null;
  actor: string;
  reason: string | null;
  evidence: unknown;
  batchId: string | null;
  eventTime: Date;
  /** A consent change's claimed event time when it was later than its arrival (clamped). */
  claimedEventTime?: Date | null;
}

/** A requested consent change, whatever its outcome (also no-ops and superseded changes). */
export function consentChangeRecord(c: {
  app: AppRef;
  /** Already normalised. */
  identity: string;
  listType: ListType;
  origin: Origin;
  operation: Operation;
  outcome: Outcome;
  actor: string;
  reason?: string | null;
  evidence?: unknown;
  batchId?: string | null;
  /** The event time stored (clamped to the arrival), and the claim when it was clamped. */
  eventTime: Date;
  claimedEventTime: Date | null;
}): NewAuditRecord {
  return {
    kind: AuditRecordKind.CONSENT_CHANGE,
    projectId: c.app.projectId,
    appId: c.app.appId,
    identity: c.identity,
    listType: c.listType,
    origin: c.origin,
    operation: c.operation,
    outcome: c.outcome,
    actor: c.actor,
    reason: c.reason ?? null,
    evidence: c.evidence ?? null,
    batchId: c.batchId ?? null,
    eventTime: c.eventTime,
    claimedEventTime: c.claimedEventTime,
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
