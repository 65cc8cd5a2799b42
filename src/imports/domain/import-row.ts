// The rows of an import file, framework-free: which columns a file may have, and the validation
// of one row, with the API's own rules (identity normalisation, list types, actions, event times,
// reason and source lengths). A bad row becomes a RowError naming its line and field; its
// description never repeats the value (it could be an identity).
import { unstorable } from '../../common/json-body.js';
import { ChangeAction, LIST_TYPES, ListType } from '../../consent/domain/consent-types.js';
import { checkEventTime } from '../../consent/domain/event-time.js';
import { InvalidIdentityError, normalizeIdentity } from '../../consent/domain/identity.js';

export const MAX_REASON_CHARS = 500;
export const MAX_SOURCE_CHARS = 128;
/** import_errors.field and .description are varchar(64) and varchar(300). */
const MAX_FIELD_CHARS = 64;
const MAX_DESCRIPTION_CHARS = 300;

/** The fields a row may set. */
export type ImportField = 'identity' | 'list_type' | 'action' | 'event_time' | 'reason' | 'source';

/**
 * Every column (CSV) or key (NDJSON) a file may have, and the field it sets: null for the
 * columns of an export that an import ignores (origin, audit_record_id). opted_out_since (an
 * export's column) is another name for event_time.
 */
export const COLUMNS: ReadonlyMap<string, ImportField | null> = new Map<string, ImportField | null>(
  [
    ['identity', 'identity'],
    ['list_type', 'list_type'],
    ['action', 'action'],
    ['event_time', 'event_time'],
    ['opted_out_since', 'event_time'],
    ['reason', 'reason'],
    ['source', 'source'],
    ['origin', null],
    ['audit_record_id', null],
  ],
);

/** A valid row, ready to stage. */
export interface StagedRow {
  line: number;
  /** Normalised. */
  identity: string;
  listType: ListType;
  optedOut: boolean;
  eventTime: Date | null;
  reason: string | null;
  source: string | null;
}

/** A rejected row. */
export interface RowError {
  line: number;
  field: string;
  description: string;
}

/** A row as read: field name (as in the file) to value (CSV: strings; NDJSON: JSON values). */
export type RawRow = Record<string, unknown>;

/** The whole file is refused (400, nothing stored): not a consent import file. */
export class NotAnImportFileError extends Error {}

export function rowError(line: number, field: string, description: string): RowError {
  return {
    line,
    field: field.length <= MAX_FIELD_CHARS ? field : `${field.slice(0, MAX_FIELD_CHARS - 1)}…`,
    description:
      description.length <= MAX_DESCRIPTION_CHARS
        ? description
        : `${description.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`,
  };
}

/**
 * The fields a CSV header names, in column order (null: ignored). Refuses (NotAnImportFileError)
 * an unknown or repeated column, both event_time and opted_out_since, or no identity or
 * list_type column. Names are compared trimmed and in lower case.
 */
export function readHeader(header: readonly string[]): (string | null)[] {
  const names = header.map((h) => h.trim().toLowerCase());
  const seen = new Set<string>();
  for (const [i, name] of names.entries()) {
    if (!COLUMNS.has(name)) {
      // Named only when it looks like a column name: a header-less file's first row is data.
      const which = /^[a-z_][a-z0-9_ ]{0,39}$/.test(name) ? `"${name}"` : `number ${i + 1}`;
      throw new NotAnImportFileError(
        `unknown column ${which} (known: ${[...COLUMNS.keys()].join(', ')}; is the header row missing?)`,
      );
    }
    if (seen.has(name)) throw new NotAnImportFileError(`column "${name}" appears twice`);
    seen.add(name);
  }
  if (seen.has('event_time') && seen.has('opted_out_since'))
    throw new NotAnImportFileError(
      'columns event_time and opted_out_since are one field: give one',
    );
  for (const required of ['identity', 'list_type']) {
    if (!seen.has(required)) throw new NotAnImportFileError(`the header has no ${required} column`);
  }
  return names.map((n) => (COLUMNS.get(n) === null ? null : n));
}

/** '' and null are absent, like a missing column. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** A string field's value, or the problem with it. */
function text(v: unknown, max: number): { value: string } | { problem: string } {
  if (typeof v !== 'string') return { problem: 'must be a string' };
  if (v.length > max) return { problem: `must be at most ${max} characters` };
  const bad = unstorable(v);
  if (bad) return { problem: bad };
  return { value: v };
}

/**
 * Validates one row read at `line` (keys: the file's names, see COLUMNS) as the API would
 * validate the same change; `now` bounds event times (at most 5 minutes ahead).
 */
export function validateRow(raw: RawRow, line: number, now: number): StagedRow | RowError {
  for (const key of Object.keys(raw)) {
    if (!COLUMNS.has(key)) return rowError(line, key, 'is not a known field');
  }
  if (!present(raw.identity)) return rowError(line, 'identity', 'is required');
  let identity: string;
  try {
    identity = normalizeIdentity(raw.identity);
  } catch (e) {
    if (e instanceof InvalidIdentityError)
      return rowError(line, 'identity', `identity ${e.message}`);
    throw e;
  }
  if (!present(raw.list_type)) return rowError(line, 'list_type', 'is required');
  const listType = typeof raw.list_type === 'string' ? raw.list_type.trim() : raw.list_type;
  if (!LIST_TYPES.includes(listType as ListType))
    return rowError(line, 'list_type', `must be one of ${LIST_TYPES.join(', ')}`);
  let optedOut = true;
  if (present(raw.action)) {
    const action = typeof raw.action === 'string' ? raw.action.trim() : raw.action;
    if (action !== ChangeAction.OPT_OUT && action !== ChangeAction.OPT_IN)
      return rowError(line, 'action', 'must be OPT_OUT or OPT_IN');
    optedOut = action === ChangeAction.OPT_OUT;
  }
  let eventTime: Date | null = null;
  const timeField = present(raw.event_time) ? 'event_time' : 'opted_out_since';
  if (present(raw[timeField])) {
    const v = raw[timeField];
    if (typeof v !== 'string') return rowError(line, timeField, 'must be a string');
    const checked = checkEventTime(v.trim(), now);
    if (checked.problem !== undefined) return rowError(line, timeField, checked.problem);
    eventTime = checked.time;
  }
  let reason: string | null = null;
  if (present(raw.reason)) {
    const r = text(raw.reason, MAX_REASON_CHARS);
    if ('problem' in r) return rowError(line, 'reason', r.problem);
    reason = r.value;
  }
  let source: string | null = null;
  if (present(raw.source)) {
    const s = text(raw.source, MAX_SOURCE_CHARS);
    if ('problem' in s) return rowError(line, 'source', s.problem);
    source = s.value;
  }
  return { line, identity, listType: listType as ListType, optedOut, eventTime, reason, source };
}

export function isRowError(r: StagedRow | RowError): r is RowError {
  return 'description' in r;
}
