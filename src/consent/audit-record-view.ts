// The one definition of an audit record as the API shows it (AuditRecordDto): each field with
// its value from a loaded row (the paged API) and its SQL over consent_audit (the NDJSON export,
// which COPY formats in the database). Both are built from AUDIT_RECORD_FIELDS, in its order.
import type { AuditRecordEntity } from '../audit/audit-record.entity.js';
import { isoTimestampSql } from '../common/sql-time.js';
import type { AuditRecordDto } from './dto/native-consents.dto.js';

interface Field<K extends keyof AuditRecordDto> {
  /** The field's value from the row, as JSON (strings for ids and times). */
  api: (r: AuditRecordEntity) => AuditRecordDto[K];
  /** The same value in SQL, over consent_audit aliased `a`; json renders it as `api` does. */
  sql: string;
}

type Fields = { [K in keyof AuditRecordDto]: Field<K> };

/** The fields whose column value is already the API's (no conversion). */
type AsIs = {
  [
    K in keyof AuditRecordDto & keyof AuditRecordEntity
  ]: AuditRecordEntity[K] extends AuditRecordDto[K] ? K : never;
}[keyof AuditRecordDto & keyof AuditRecordEntity];

const column = <K extends AsIs>(k: K): Field<K> => ({
  api: (r) => r[k] as unknown as AuditRecordDto[K], // K is AsIs: the same type
  sql: `a.${k}`,
});

const time = <K extends 'event_time' | 'recorded_at'>(k: K): Field<K> => ({
  api: (r) => r[k].toISOString(),
  sql: isoTimestampSql(`a.${k}`),
});

/** Every field of AuditRecordDto, in the order the API and the export write them. */
export const AUDIT_RECORD_FIELDS: Fields = {
  id: { api: (r) => String(r.id), sql: 'a.id::text' },
  kind: column('kind'),
  identity: column('identity'),
  list_type: column('list_type'),
  origin: column('origin'),
  operation: column('operation'),
  outcome: column('outcome'),
  actor: column('actor'),
  reason: column('reason'),
  evidence: column('evidence'),
  batch_id: column('batch_id'),
  event_time: time('event_time'),
  claimed_event_time: {
    api: (r) => r.claimed_event_time?.toISOString() ?? null,
    sql: isoTimestampSql('a.claimed_event_time'),
  },
  recorded_at: time('recorded_at'),
  import_id: column('import_id'),
  source: column('source'),
  hash: { api: (r) => r.hash.toString('hex'), sql: `encode(a.hash, 'hex')` },
  prev_hash: { api: (r) => r.prev_hash.toString('hex'), sql: `encode(a.prev_hash, 'hex')` },
};

const ENTRIES = Object.entries(AUDIT_RECORD_FIELDS) as [
  keyof AuditRecordDto,
  { api: (r: AuditRecordEntity) => unknown; sql: string },
][];

/** A loaded record as the API answers it. */
export function toAuditRecordDto(r: AuditRecordEntity): AuditRecordDto {
  const dto: Record<string, unknown> = {};
  for (const [name, field] of ENTRIES) dto[name] = field.api(r);
  return dto as unknown as AuditRecordDto;
}

/**
 * SQL: one record of consent_audit `a` as the JSON text of toAuditRecordDto (same fields, same
 * order, same strings), for `SELECT ${auditRecordJsonSql()} FROM consent_audit a ...`.
 */
export function auditRecordJsonSql(): string {
  const select = ENTRIES.map(([name, f]) => `${f.sql} AS ${name}`).join(', ');
  return `(SELECT row_to_json(r)::text FROM (SELECT ${select}) r)`;
}
