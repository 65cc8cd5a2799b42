// The SQL that appends to the audit trail: the one INSERT INTO consent_audit of the service (outside
// migrations), and the builders of the statements that append a record in the same statement as
// another write (a reply job's final outcome). Every record kind is defined in
// consent/domain/consent-types.ts (AuditRecordKind) and documented in the README (Audit trail).
import { AuditRecordKind, LIST_TYPES } from '../consent/domain/consent-types.js';
import { MAX_IDENTITY_LENGTH } from '../consent/domain/identity.js';

/** consent_audit.actor of the records of the service's own confirmation replies. */
export const REPLY_AUDIT_ACTOR = 'consent-gate';

/** consent_audit.reason is varchar(500). */
const MAX_REASON_CHARS = 500;

const COLUMNS = [
  'kind',
  'project_id',
  'app_id',
  'identity',
  'list_type',
  'origin',
  'operation',
  'outcome',
  'actor',
  'reason',
  'evidence',
  'batch_id',
  'event_time',
  'claimed_event_time',
  'import_id',
  'source',
] as const;

/** A value for each column: a SQL expression (a parameter, a column of `FROM ...`, a literal). */
export type AuditValues = Record<(typeof COLUMNS)[number], string>;

/** The sequence of consent_audit.id, for statements that allocate ids first (auditInsert's `id`). */
export const AUDIT_ID_SEQUENCE = 'consent_audit_id_seq';

/**
 * `INSERT INTO consent_audit (...) SELECT <values> <from>`: the one INSERT of audit records.
 * `from` is the rest of the SELECT (FROM, WHERE, ORDER BY), or '' for a single row. `id`, when
 * given, is an expression of an id already taken from AUDIT_ID_SEQUENCE (for a statement that
 * writes the id elsewhere too); else the column's identity assigns it.
 */
export function auditInsert(values: AuditValues, from = '', id?: string): string {
  if (id !== undefined) {
    return `INSERT INTO consent_audit (id, ${COLUMNS.join(', ')}) OVERRIDING SYSTEM VALUE
         SELECT ${id}, ${COLUMNS.map((c) => values[c]).join(', ')} ${from}`;
  }
  return `INSERT INTO consent_audit (${COLUMNS.join(', ')})
         SELECT ${COLUMNS.map((c) => values[c]).join(', ')} ${from}`;
}

/** The final outcomes of a confirmation reply, with the audit kind each one records. */
export const REPLY_OUTCOME_KINDS = {
  SENT: AuditRecordKind.REPLY_SENT,
  FAILED: AuditRecordKind.REPLY_FAILED,
  IN_DOUBT: AuditRecordKind.REPLY_IN_DOUBT,
} as const;

const REPLY_REASONS: Record<keyof typeof REPLY_OUTCOME_KINDS, string> = {
  SENT: 'accepted by Sinch',
  FAILED: 'not delivered',
  IN_DOUBT: 'outcome unknown (the worker stopped during the send): not sent again',
};

const LIST_TYPE_SQL = LIST_TYPES.map((l) => `'${l}'`).join(', ');

/**
 * A data-modifying CTE `name` that appends one reply-outcome record (REPLY_SENT, REPLY_FAILED or
 * REPLY_IN_DOUBT) per row of `rows` matching `where`. `rows` is a CTE over the reply jobs just
 * finished, with their id, project_id, app_id, payload, attempts, last_error and a column
 * `outcome` ('SENT', 'FAILED', 'IN_DOUBT'); `extraEvidence` is a jsonb SQL expression merged into
 * the evidence (e.g. the Sinch message id). Built from the payload's known fields only, never the
 * reply text, and defensively: whatever a payload holds, the statement must not fail. Jobs queued
 * before normalized_identity existed fall back to Sinch's identity (digits, i.e. normalised).
 */
export function replyOutcomeAudit(
  name: string,
  rows: string,
  where: string,
  extraEvidence = `'{}'::jsonb`,
): string {
  const identity = `coalesce(r.payload->>'normalized_identity', r.payload->>'identity')`;
  const kind = `CASE r.outcome ${Object.entries(REPLY_OUTCOME_KINDS)
    .map(([o, k]) => `WHEN '${o}' THEN '${k}'`)
    .join(' ')} END`;
  const reason = `CASE r.outcome ${Object.entries(REPLY_REASONS)
    .map(([o, text]) => `WHEN '${o}' THEN '${text}'`)
    .join(' ')} END`;
  return `${name} AS (
         ${auditInsert(
           {
             kind,
             project_id: 'r.project_id',
             app_id: 'r.app_id',
             identity: `left(${identity}, ${MAX_IDENTITY_LENGTH})`,
             list_type: `CASE WHEN r.payload->>'list_type' IN (${LIST_TYPE_SQL}) THEN r.payload->>'list_type' END`,
             origin: 'NULL',
             operation: 'NULL',
             outcome: 'NULL',
             actor: `'${REPLY_AUDIT_ACTOR}'`,
             reason: `left('confirmation reply (' || coalesce(r.payload->>'action', 'unknown') || ') ' || ${reason}, ${MAX_REASON_CHARS})`,
             evidence: `jsonb_build_object(
                  'reply_job_id', r.id::text,
                  'inbound_message_id', r.payload->'inbound_message_id',
                  'action', r.payload->'action',
                  'language', r.payload->'language',
                  'channel', r.payload->'channel',
                  'attempts', r.attempts)
                || CASE WHEN r.outcome = 'SENT' THEN '{}'::jsonb
                        ELSE jsonb_build_object('last_error', r.last_error) END
                || ${extraEvidence}`,
             batch_id: 'NULL',
             event_time: 'now()',
             claimed_event_time: 'NULL',
             import_id: 'NULL',
             source: 'NULL',
           },
           `FROM ${rows} r
          WHERE (${where}) AND r.outcome IN ('SENT', 'FAILED', 'IN_DOUBT')
            AND coalesce(${identity}, '') <> ''
          ORDER BY r.id`,
         )}
       )`;
}
