import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool } from 'pg';
import { NAMED_STATEMENTS, PG_POOL } from '../database/database.module.js';
import { ListType, Origin } from './domain/consent-types.js';
import type { CurrentState } from './domain/transition.js';
import type { ConsentStateEntity } from './consent-state.entity.js';

export interface StateKey {
  projectId: string;
  appId: string;
  identity: string;
  listType: ListType;
}

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
   * Which of `lists` each of these identities is on. One query, whatever the count. A single
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
                WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND opted_out`,
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
                AND list_type = ANY($4::varchar[]) AND opted_out`,
      values: [projectId, appId, identities, arrayLiteral(lists)],
    });
    return result.rows;
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
   * The row of one identity on one list, locked until the transaction ends, and the change's
   * arrival: the database's clock read once the lock is held. One clock for every instance,
   * read in lock order, so that a change that takes the row after another never arrives
   * earlier than it (the clamp of event-time.ts relies on that). One statement: the outer
   * select computes clock_timestamp() after the locking subquery has returned (also when it
   * waited for the lock, or found no row).
   */
  async lockState(
    tx: EntityManager,
    k: StateKey,
  ): Promise<{ current: StoredState | null; arrival: Date }> {
    const rows: (StoredState & { arrival: Date; found: boolean | null })[] = await tx.query(
      `SELECT clock_timestamp() AS arrival, s.found, s.opted_out, s.since, s.last_event_time,
              s.origin
         FROM (VALUES (1)) one
         LEFT JOIN LATERAL (
           SELECT true AS found, opted_out, since, last_event_time, origin FROM consent_state
            WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND list_type = $4
            FOR UPDATE
         ) s ON true`,
      [k.projectId, k.appId, k.identity, k.listType],
    );
    const { arrival, found, ...current } = rows[0]!;
    return { current: found ? current : null, arrival };
  }

  /** Inserts a row unless a concurrent transaction got there first (then returns false). */
  async insertIfAbsent(tx: EntityManager, k: StateKey, s: NewState): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `INSERT INTO consent_state
         (project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
       ON CONFLICT (project_id, app_id, identity, list_type) DO NOTHING
       RETURNING 1`,
      stateParams(k, s),
    );
    return rows.length === 1;
  }

  /**
   * The stored states of these identity × list keys (unlocked), by `identity\0list_type`, and the
   * database's clock.
   */
  async readStates(
    projectId: string,
    appId: string,
    keys: readonly { identity: string; listType: ListType }[],
  ): Promise<{ states: Map<string, CurrentState>; now: Date }> {
    const result = await this.pool.query<CurrentState & { identity: string; list_type: string }>({
      text: `SELECT s.identity, s.list_type, s.opted_out, s.since, s.last_event_time
               FROM unnest($3::varchar[], $4::varchar[]) k(identity, list_type)
               JOIN consent_state s ON s.project_id = $1 AND s.app_id = $2
                AND s.identity = k.identity AND s.list_type = k.list_type`,
      values: [projectId, appId, keys.map((k) => k.identity), keys.map((k) => k.listType)],
    });
    const clock = await this.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const states = new Map<string, CurrentState>();
    for (const r of result.rows) {
      states.set(`${r.identity}\u0000${r.list_type}`, {
        opted_out: r.opted_out,
        since: r.since,
        last_event_time: r.last_event_time,
      });
    }
    return { states, now: clock.rows[0]!.now };
  }

  /** Names the audit record (and its source) that put the row in its current state. */
  async markDecidedBy(
    tx: EntityManager,
    k: StateKey,
    auditRecordId: string,
    source: string | null,
  ): Promise<void> {
    await tx.query(
      `UPDATE consent_state SET audit_record_id = $5, source = $6
        WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND list_type = $4`,
      [k.projectId, k.appId, k.identity, k.listType, auditRecordId, source],
    );
  }

  async update(tx: EntityManager, k: StateKey, s: NewState): Promise<void> {
    await tx.query(
      `UPDATE consent_state
          SET opted_out = $5, since = $6, last_event_time = $7, origin = $8, updated_at = now()
        WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND list_type = $4`,
      stateParams(k, s),
    );
  }
}

/** $1..$8 of the statements that write a state: the key, then the state. */
function stateParams(k: StateKey, s: NewState): unknown[] {
  return [
    k.projectId,
    k.appId,
    k.identity,
    k.listType,
    s.opted_out,
    s.since,
    s.last_event_time,
    s.origin,
  ];
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
