import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool } from 'pg';
import { NAMED_STATEMENTS, PG_POOL } from '../database/database.module.js';
import { AUDIT_ID_SEQUENCE, auditInsert } from '../audit/audit-sql.js';
import { epochMsSql } from '../common/sql-time.js';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditRecordKind, ListType, Operation, Origin, Outcome } from './domain/consent-types.js';
import type { CurrentState } from './domain/transition.js';
import type { ConsentStateEntity } from './consent-state.entity.js';

export type OptOutRow = Pick<ConsentStateEntity, 'identity' | 'list_type' | 'since' | 'origin'>;

export interface StoredState extends CurrentState {
  origin: Origin;
}

export type NewState = Pick<
  ConsentStateEntity,
  'opted_out' | 'since' | 'last_event_time' | 'origin'
>;

/**
 * Consent lists. Reads on the send-check hot path go straight to the pg pool as named
 * (prepared) statements: one round trip for any number of identities.
 */
@Injectable()
export class ConsentRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMED_STATEMENTS) private readonly named: boolean,
  ) {}

  private statementName(name: string): string | undefined {
    return this.named ? name : undefined;
  }

  /**
   * Which of `lists` each of these identities is on (an erased identity by its stored form, see
   * erasedForms; answered under the identity asked). One query, whatever the count. A single
   * identity uses a plain primary-key lookup of all its opt-outs (filtered here: at most three
   * rows), which plans and runs faster than `= ANY`, as a named statement; a batch is an unnamed
   * statement (see below) and sends `lists` as a ready-made array literal.
   */
  async findOptOutLists(
    projectId: string,
    appId: string,
    identities: readonly string[],
    lists: readonly ListType[],
  ): Promise<{ identity: string; list_type: ListType }[]> {
    if (identities.length === 1) {
      const result = await this.pool.query<{ identity: string; list_type: ListType }>({
        name: this.statementName('consent_opt_out_lists_one'),
        text: `SELECT identity, list_type FROM consent_state
                WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND opted_out
               UNION ALL
               -- As erased_identities() does, in plain SQL (no function call on the hot path):
               -- nothing but one index probe when the app has no erasure.
               SELECT $3, s.list_type FROM consent_state s
                WHERE EXISTS (SELECT 1 FROM identity_erasures x
                               WHERE x.project_id = $1 AND x.app_id = $2)
                  AND s.project_id = $1 AND s.app_id = $2 AND s.opted_out
                  AND s.identity = (
                        SELECT ('erased:' || encode(e.identity_key, 'hex'))::varchar
                          FROM identity_erasures e
                         WHERE e.project_id = $1 AND e.app_id = $2
                           AND e.identity_key = (SELECT consent_audit_identity_key($3)))`,
        values: [projectId, appId, identities[0]],
      });
      return result.rows.filter((r) => lists.includes(r.list_type));
    }
    // Unnamed on purpose: a named statement switches to PostgreSQL's generic plan after five
    // runs, and the generic plan cannot hash the identity array (it is a parameter, not a
    // constant): a 10,000-identity check then takes twice as long (about 56 ms instead of 23 ms
    // on the bench data). An unnamed statement is planned with its values every time.
    const result = await this.pool.query<{ identity: string; list_type: ListType }>({
      text: `SELECT identity, list_type FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND identity = ANY($3::varchar[])
                AND list_type = ANY($4::varchar[]) AND opted_out
             UNION ALL
             SELECT x.identity, s.list_type
               FROM erased_identities($1, $2, $3::varchar[]) x
               JOIN consent_state s ON s.project_id = $1 AND s.app_id = $2
                AND s.identity = x.erased AND s.list_type = ANY($4::varchar[]) AND s.opted_out`,
      values: [projectId, appId, identities, arrayLiteral(lists)],
    });
    return result.rows;
  }

  /** How many identities are on each list of the app (lists with none are left out). */
  async listSizes(projectId: string, appId: string): Promise<Map<ListType, number>> {
    const result = await this.pool.query<{ list_type: ListType; size: string }>({
      text: `SELECT list_type, count(*) AS size FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND opted_out
              GROUP BY list_type`,
      values: [projectId, appId],
    });
    return new Map(result.rows.map((r) => [r.list_type, Number(r.size)]));
  }

  /** The opt-outs of one identity, with since and origin. */
  async findOptOuts(projectId: string, appId: string, identity: string): Promise<OptOutRow[]> {
    const result = await this.pool.query<OptOutRow>({
      name: this.statementName('consent_find_opt_outs'),
      text: `SELECT identity, list_type, since, origin FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND opted_out
              ORDER BY list_type`,
      values: [projectId, appId, identity],
    });
    return result.rows;
  }

  /** One page of a list, in identity order, strictly after `after`. */
  async listOptedOut(
    projectId: string,
    appId: string,
    listType: ListType,
    after: string | null,
    limit: number,
  ): Promise<string[]> {
    const result = await this.pool.query<{ identity: string }>({
      name: this.statementName('consent_list_page'),
      text: `SELECT identity FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND list_type = $3 AND opted_out
                AND ($4::varchar IS NULL OR identity > $4::varchar)
              ORDER BY identity LIMIT $5`,
      values: [projectId, appId, listType, after, limit],
    });
    return result.rows.map((r) => r.identity);
  }

  /**
   * The stored states of these identity × list keys (unlocked), by stateKey, and the database's
   * clock (for a preview: see ConsentService.previewChanges).
   */
  async readStates(
    projectId: string,
    appId: string,
    keys: readonly { identity: string; listType: ListType }[],
  ): Promise<{ states: Map<string, CurrentState>; now: Date }> {
    const result = await this.pool.query<
      CurrentState & { identity: string; list_type: string; now: Date }
    >({
      text: `SELECT s.identity, s.list_type, s.opted_out, s.since, s.last_event_time
               FROM unnest($3::varchar[], $4::varchar[]) k(identity, list_type)
               JOIN consent_state s ON s.project_id = $1 AND s.app_id = $2
                AND s.identity = k.identity AND s.list_type = k.list_type`,
      values: [projectId, appId, keys.map((k) => k.identity), keys.map((k) => k.listType)],
    });
    const clock = await this.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const states = new Map<string, CurrentState>();
    for (const r of result.rows) {
      states.set(stateKey(r.identity, r.list_type), {
        opted_out: r.opted_out,
        since: r.since,
        last_event_time: r.last_event_time,
      });
    }
    return { states, now: clock.rows[0]!.now };
  }

  /**
   * The rows of these identity × list keys (distinct, in the caller's lock order), each locked
   * until the transaction ends, with each change's arrival: the database's clock read once its
   * row's lock is held. One clock for every instance, read after the lock, so that a change that
   * takes a row after another never arrives earlier than it (the clamp of event-time.ts relies on
   * that). One statement for any number of keys: the keys are locked one after the other in the
   * order given (a nested loop over the array: every caller sorts its keys the same way, so
   * concurrent batches cannot deadlock), also when a key has no row yet. An erased identity is
   * locked by its stored form (erasedForms), returned as `identity`: the changes are written by it.
   */
  async lockStates(
    tx: EntityManager,
    app: AppRef,
    keys: readonly { identity: string; listType: ListType }[],
  ): Promise<{ current: StoredState | null; arrival: Date; identity: string }[]> {
    // Times come back as epoch milliseconds (float8: a JS number), not timestamptz text: parsing
    // that text was a tenth of the service's time in a bulk import's chunk.
    const rows: {
      arrival: number;
      found: boolean | null;
      ord: string;
      identity: string;
      opted_out: boolean;
      since: number | null;
      last_event_time: number | null;
      origin: Origin;
    }[] = await tx.query(
      `WITH k AS MATERIALIZED (
         SELECT coalesce(x.erased, u.identity) AS identity, u.list_type, u.ord
           FROM unnest($3::varchar[], $4::varchar[]) WITH ORDINALITY u(identity, list_type, ord)
           LEFT JOIN erased_identities($1, $2, $3::varchar[]) x ON x.identity = u.identity
          ORDER BY u.ord
       )
       SELECT k.ord, k.identity, ${epochMsSql('clock_timestamp()')} AS arrival, s.found,
              s.opted_out, ${epochMsSql('s.since')} AS since,
              ${epochMsSql('s.last_event_time')} AS last_event_time, s.origin
         FROM k
         LEFT JOIN LATERAL (
           SELECT true AS found, opted_out, since, last_event_time, origin FROM consent_state
            WHERE project_id = $1 AND app_id = $2 AND identity = k.identity
              AND list_type = k.list_type
            FOR UPDATE
         ) s ON true
        ORDER BY k.ord`,
      [app.projectId, app.appId, keys.map((k) => k.identity), keys.map((k) => k.listType)],
    );
    const locked = new Array<{ current: StoredState | null; arrival: Date; identity: string }>(
      keys.length,
    );
    for (const r of rows) {
      locked[Number(r.ord) - 1] = {
        current: r.found
          ? {
              opted_out: r.opted_out,
              since: new Date(r.since!),
              last_event_time: new Date(r.last_event_time!),
              origin: r.origin,
            }
          : null,
        arrival: new Date(r.arrival),
        identity: r.identity,
      };
    }
    return locked;
  }

  /**
   * The stored form of each of these identities that is erased in the app (by identity asked;
   * the others are stored as they are). One query; nothing but an index probe for an app with no
   * erasure (the database's erased_identities).
   */
  async erasedForms(app: AppRef, identities: readonly string[]): Promise<Map<string, string>> {
    const result = await this.pool.query<{ identity: string; erased: string }>({
      name: this.statementName('consent_erased_forms'),
      text: `SELECT identity, erased FROM erased_identities($1, $2, $3::varchar[])`,
      values: [app.projectId, app.appId, identities],
    });
    return new Map(result.rows.map((r) => [r.identity, r.erased]));
  }

  /**
   * One statement for a set of changes to distinct keys, all locked by this transaction (see
   * lockStates): appends one CONSENT_CHANGE audit record per change, in the order given, and
   * writes each new state: an update of a row that was locked, an insert of one that had none
   * (`create`). Each row written names the change's audit record and source as its decider when
   * the change applied or created it. The audit ids are taken from their sequence first, so that
   * the states can name them in the same statement.
   * A row to create that a concurrent transaction created since the lock is left alone and its
   * change is not recorded: it is returned in `lost`, to be locked and planned again.
   * Returns the audit record id of each recorded change (in the order given; undefined if lost).
   */
  async recordChanges(
    tx: EntityManager,
    ctx: RecordContext,
    changes: readonly RecordedChange[],
  ): Promise<{ ids: (string | undefined)[]; lost: Set<string> }> {
    // One row per change, in the order given (ord): its audit record id, or lost.
    const rows: { id: string; lost: boolean }[] = await tx.query(
      `WITH input AS MATERIALIZED (
           SELECT t.*, nextval('${AUDIT_ID_SEQUENCE}') AS audit_id
             FROM unnest($3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[],
                         $7::varchar[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[],
                         $11::varchar[], $12::varchar[], $13::boolean[], $14::timestamptz[],
                         $15::timestamptz[], $16::varchar[], $17::boolean[])
                  WITH ORDINALITY t(identity, list_type, operation, outcome, reason, evidence,
                                    event_time, claimed_event_time, source, write, opted_out,
                                    since, last_event_time, origin, decided, ord)
            ORDER BY t.ord
         ), created AS (
           INSERT INTO consent_state
             (project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin,
              updated_at, audit_record_id, source)
           SELECT $1, $2, i.identity, i.list_type, i.opted_out, i.since, i.last_event_time,
                  i.origin, now(), i.audit_id, i.source
             FROM input i WHERE i.write = 'create'
           ON CONFLICT (project_id, app_id, identity, list_type) DO NOTHING
           RETURNING identity, list_type
         ), recorded AS (
           -- Joins, not EXISTS: hashed, so linear in the number of changes.
           SELECT i.* FROM input i
             LEFT JOIN created c ON c.identity = i.identity AND c.list_type = i.list_type
            WHERE i.write IS DISTINCT FROM 'create' OR c.identity IS NOT NULL
         ), audit AS (
           ${auditInsert(
             {
               kind: `'${AuditRecordKind.CONSENT_CHANGE}'`,
               project_id: '$1',
               app_id: '$2',
               identity: 'r.identity',
               list_type: 'r.list_type',
               origin: '$18::varchar',
               operation: 'r.operation',
               outcome: 'r.outcome',
               actor: '$19::varchar',
               reason: 'r.reason',
               evidence: 'r.evidence',
               batch_id: '$20::varchar',
               event_time: 'r.event_time',
               claimed_event_time: 'r.claimed_event_time',
               import_id: '$21::varchar',
               source: 'r.source',
             },
             'FROM recorded r ORDER BY r.ord',
             'r.audit_id',
           )}
         ), updated AS (
           -- An upsert of rows known to exist (locked): driven by the changes, one primary-key
           -- probe each, whatever the planner believes of the table (an UPDATE ... FROM join
           -- planned on stale statistics can scan the app's rows once per change).
           INSERT INTO consent_state AS s
             (project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin,
              updated_at, audit_record_id, source)
           SELECT $1, $2, i.identity, i.list_type, i.opted_out, i.since, i.last_event_time,
                  i.origin, now(), CASE WHEN i.decided THEN i.audit_id END, i.source
             FROM input i WHERE i.write = 'update'
           ON CONFLICT (project_id, app_id, identity, list_type) DO UPDATE
              SET opted_out = EXCLUDED.opted_out, since = EXCLUDED.since,
                  last_event_time = EXCLUDED.last_event_time, origin = EXCLUDED.origin,
                  updated_at = EXCLUDED.updated_at,
                  audit_record_id = coalesce(EXCLUDED.audit_record_id, s.audit_record_id),
                  source = CASE WHEN EXCLUDED.audit_record_id IS NULL THEN s.source
                                ELSE EXCLUDED.source END
         )
         SELECT i.audit_id::text AS id, r.ord IS NULL AS lost
           FROM input i LEFT JOIN recorded r ON r.ord = i.ord
          ORDER BY i.ord`,
      [
        ctx.app.projectId,
        ctx.app.appId,
        ...recordColumns(changes),
        ctx.origin,
        ctx.actor,
        ctx.batchId ?? null,
        ctx.importId ?? null,
      ],
    );
    const lost = new Set<string>();
    const ids = changes.map((c, k) => {
      const row = rows[k]!;
      if (row.lost) {
        lost.add(stateKey(c.identity, c.listType));
        return undefined;
      }
      return row.id;
    });
    return { ids, lost };
  }
}

/** recordChanges' fifteen array parameters ($3 to $17), built in one pass over the changes. */
function recordColumns(changes: readonly RecordedChange[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 15 }, () => new Array<unknown>(changes.length));
  for (let k = 0; k < changes.length; k++) {
    const c = changes[k]!;
    const next = c.next;
    columns[0]![k] = c.identity;
    columns[1]![k] = c.listType;
    columns[2]![k] = c.operation;
    columns[3]![k] = c.outcome;
    columns[4]![k] = c.reason ?? null;
    columns[5]![k] = c.evidence === undefined ? null : JSON.stringify(c.evidence);
    columns[6]![k] = c.eventTime.toISOString();
    columns[7]![k] = c.claimedEventTime?.toISOString() ?? null;
    columns[8]![k] = c.source ?? null;
    columns[9]![k] = c.write;
    columns[10]![k] = next?.opted_out ?? null;
    columns[11]![k] = next?.since.toISOString() ?? null;
    columns[12]![k] = next?.last_event_time.toISOString() ?? null;
    columns[13]![k] = next?.origin ?? null;
    columns[14]![k] = c.decided;
  }
  return columns;
}

/** The key of one identity on one list, for maps. */
export function stateKey(identity: string, listType: string): string {
  return `${identity}\u0000${listType}`;
}

/** Who made a set of changes (the audit record's scalars). */
export interface RecordContext {
  app: AppRef;
  origin: Origin;
  actor: string;
  batchId?: string;
  importId?: string;
}

/** One change as recordChanges writes it: its audit record and, when it changes, its state. */
export interface RecordedChange {
  identity: string;
  listType: ListType;
  operation: Operation;
  outcome: Outcome;
  reason?: string | null;
  evidence?: unknown;
  source?: string | null;
  eventTime: Date;
  claimedEventTime: Date | null;
  /** How the row is written: created (it had none), updated, or left alone (null). */
  write: 'create' | 'update' | null;
  /** The state to store when written. */
  next?: NewState;
  /** Whether this change becomes the row's decider (it applied, or created the row). */
  decided: boolean;
}

const ARRAY_LITERALS = new Map<readonly ListType[], string>();

/** `{A,B}`: list types are plain upper-case words, so no quoting is needed. */
function arrayLiteral(lists: readonly ListType[]): string {
  let literal = ARRAY_LITERALS.get(lists);
  if (literal === undefined) {
    literal = `{${lists.join(',')}}`;
    if (ARRAY_LITERALS.size < 16) ARRAY_LITERALS.set(lists, literal);
  }
  return literal;
}
