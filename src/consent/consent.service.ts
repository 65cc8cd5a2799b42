import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ApiError, FieldViolation } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { retryOnConflict } from '../common/database-errors.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuditRecordEntity } from '../audit/audit-record.entity.js';
import type { AppRef } from '../kernel/app-ref.js';
import { SettingsService } from '../settings/settings.service.js';
import { ConsentChanged, ConsentEvents } from './consent-events.js';
import { ConsentRepository, NewState, StoredState, stateKey } from './consent.repository.js';
import { CheckAnswer, Verdict } from './domain/check-answer.js';
import { listsThatStop } from './domain/decision-matrix.js';
import {
  AuditRecordKind,
  ChangeAction,
  ContentType,
  ConsentMode,
  LIST_TYPES,
  ListType,
  Origin,
  Outcome,
  Operation,
} from './domain/consent-types.js';
import {
  InvalidIdentityError,
  normalizeIdentity,
  normalizeLookupIdentity,
} from './domain/identity.js';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import { checkEventTime } from './domain/event-time.js';
import { parseInstant } from './domain/point-in-time.js';
import { planChange, PlannedChange } from './domain/transition.js';
import { ModeStrategies } from './mode-strategies.js';

export interface ChangeInput {
  /** Already normalised. */
  identity: string;
  listType: ListType;
  action: ChangeAction;
  /**
   * When it happened, as claimed; none means its arrival. Never trusted beyond the arrival:
   * see domain/event-time.ts (applyOne applies that rule to every path).
   */
  eventTime?: Date;
  reason?: string | null;
  evidence?: unknown;
  /** Where the change came from before it reached us (an import row's `source`). */
  source?: string | null;
}

export interface ChangeContext {
  app: AppRef;
  origin: Origin;
  /** Key id, "admin", or the source of an MO change. */
  actor: string;
  batchId?: string;
  /** The import whose row this change is (recorded with it in the audit trail). */
  importId?: string;
  /** The Sinch channel of a change that came from one (keyword or Sinch notification). */
  channel?: string | null;
  /** The Sinch contact, when the channel event named one. */
  contactId?: string | null;
}

export interface ChangeResult {
  identity: string;
  listType: ListType;
  outcome: Outcome;
  operation: Operation;
  auditRecordId: string;
  /** The event time stored: min(claimed, arrival). */
  eventTime: Date;
  optedOut: boolean;
}

export type { CheckResult } from './domain/check-answer.js';

/** Normalises one identity of a request or throws a 400 naming `field`. */
export function normalizeIdentityField(raw: unknown, field: string): string {
  try {
    return normalizeIdentity(raw);
  } catch (e) {
    if (e instanceof InvalidIdentityError) throw ApiError.field(field, `identity ${e.message}`);
    throw e;
  }
}

const MAX_EVIDENCE_BYTES = 16 * 1024;

/** Orchestrates consent changes (with their audit records) and send checks. */
@Injectable()
export class ConsentService {
  private readonly logger = new Logger('ConsentService');
  /** Verdicts by mode, content type and matched lists: a bounded set (see verdict()). */
  private readonly verdicts = new Map<string, Verdict>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly consents: ConsentRepository,
    private readonly audit: AuditRepository,
    private readonly settings: SettingsService,
    private readonly strategies: ModeStrategies,
    private readonly events: ConsentEvents,
  ) {}

  /** Normalises one identity or throws a 400 naming `field`. */
  normalize(raw: unknown, field: string): string {
    return normalizeIdentityField(raw, field);
  }

  /**
   * Normalises one identity to look up, or throws a 400 naming `field`: also the stored form of
   * an erased identity (`erased:<key>`), which only reads take.
   */
  normalizeLookup(raw: unknown, field: string): string {
    try {
      return normalizeLookupIdentity(raw);
    } catch (e) {
      if (e instanceof InvalidIdentityError) throw ApiError.field(field, `identity ${e.message}`);
      throw e;
    }
  }

  /** How the identity is stored in the app: itself, or its erased form once erased. */
  async storedIdentity(app: AppRef, identity: string): Promise<string> {
    return (await this.consents.erasedForms(app, [identity])).get(identity) ?? identity;
  }

  /**
   * Validates an optional event_time / evidence pair from a request; 400 on bad values. An
   * event time more than 5 minutes ahead is refused; a closer one is clamped by applyChanges.
   */
  parseChangeExtras(eventTime: string | undefined, evidence: unknown): Date | undefined {
    if (
      evidence !== undefined &&
      Buffer.byteLength(JSON.stringify(evidence)) > MAX_EVIDENCE_BYTES
    ) {
      throw ApiError.field('evidence', `must be at most ${MAX_EVIDENCE_BYTES} bytes of JSON`);
    }
    if (eventTime === undefined) return undefined;
    const checked = checkEventTime(eventTime, Date.now());
    if (checked.problem !== undefined) throw ApiError.field('event_time', checked.problem);
    return checked.time;
  }

  /**
   * Applies changes in one transaction: each change locks its row, is decided by event time
   * (never later than its arrival: domain/event-time.ts) by planChange, and appends one audit
   * record (also for no-ops and superseded changes, and with the claimed time when it was
   * clamped). All or nothing. Set-based: the changes to distinct keys go together, a few
   * statements for any number of them (see applyRound); a key changed several times is changed
   * in the order given, one round per repetition.
   * With `outer`, everything happens in the caller's transaction.
   */
  async applyChanges(
    ctx: ChangeContext,
    changes: ChangeInput[],
    outer?: EntityManager,
  ): Promise<ChangeResult[]> {
    // Rows are locked in one fixed order (identity, then list; stable, so that repeated changes
    // to one key keep their order) so that concurrent batches cannot deadlock.
    const order = changes
      .map((c, i) => ({ c, i }))
      .sort((a, b) =>
        a.c.identity === b.c.identity
          ? a.c.listType < b.c.listType
            ? -1
            : a.c.listType > b.c.listType
              ? 1
              : 0
          : a.c.identity < b.c.identity
            ? -1
            : 1,
      );
    // Round r holds the r-th change of every key, still in lock order.
    const rounds: { c: ChangeInput; i: number }[][] = [];
    let previous: ChangeInput | undefined;
    let repetition = 0;
    for (const entry of order) {
      repetition =
        previous && previous.identity === entry.c.identity && previous.listType === entry.c.listType
          ? repetition + 1
          : 0;
      (rounds[repetition] ??= []).push(entry);
      previous = entry.c;
    }
    const results = new Array<ChangeResult>(changes.length);
    const run = async (tx: EntityManager): Promise<void> => {
      for (const round of rounds) await this.applyRound(tx, ctx, round, results);
    };
    // Inside the caller's transaction when given one (e.g. a webhook delivery), else our own.
    // A transaction that lost a conflict (a deadlock, or a change to an identity erased since it
    // was planned: the chain trigger refuses it) is run again, up to three times; inside the
    // caller's transaction the caller retries (the error maps to 503).
    if (outer) await run(outer);
    else await retryOnConflict(() => this.dataSource.transaction(run));
    let applied = 0;
    for (const r of results) if (r.outcome === Outcome.APPLIED) applied++;
    this.logger.log(
      `consent changes app=${ctx.app.appId} origin=${ctx.origin} actor=${ctx.actor} requested=${changes.length} applied=${applied}`,
    );
    return results;
  }

  /**
   * Changes to distinct keys, in lock order: lock them all (one statement), plan each, then
   * append the audit records and write the states (one statement; a key a concurrent transaction
   * created since the lock is locked and planned again), and publish the applied changes.
   */
  private async applyRound(
    tx: EntityManager,
    ctx: ChangeContext,
    round: { c: ChangeInput; i: number }[],
    results: ChangeResult[],
  ): Promise<void> {
    let pending = round;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 3) throw new Error('consent_state rows kept changing under an insert');
      const locked = await this.consents.lockStates(
        tx,
        ctx.app,
        pending.map(({ c }) => c),
      );
      const planned = pending.map(({ c }, k) => {
        const { current, arrival } = locked[k]!;
        return {
          current,
          plan: planChange(current, { action: c.action, eventTime: c.eventTime, arrival }),
        };
      });
      // An erased identity is written by its stored form (lockStates resolved it).
      const stored = locked.map((l) => l.identity);
      const { ids, lost } = await this.consents.recordChanges(
        tx,
        ctx,
        pending.map(({ c }, k) => {
          const { plan, current } = planned[k]!;
          return {
            identity: stored[k]!,
            listType: c.listType,
            operation: plan.operation,
            outcome: plan.outcome,
            reason: c.reason,
            evidence: c.evidence,
            source: c.source,
            eventTime: plan.eventTime,
            claimedEventTime: plan.claimedEventTime,
            write: !plan.next ? null : current ? 'update' : 'create',
            next: plan.next ? this.stateOf(ctx, plan, current) : undefined,
            decided: plan.next !== undefined && (plan.outcome === Outcome.APPLIED || !current),
          };
        }),
      );
      const applied: ConsentChanged[] = [];
      for (let k = 0; k < pending.length; k++) {
        const auditRecordId = ids[k];
        if (auditRecordId === undefined) continue;
        const { c, i } = pending[k]!;
        const { plan, current } = planned[k]!;
        if (plan.outcome === Outcome.APPLIED) {
          applied.push({
            trigger: c.action === ChangeAction.OPT_OUT ? 'OPT_OUT' : 'OPT_IN',
            identity: stored[k]!,
            listType: c.listType,
            origin: ctx.origin,
            auditRecordId,
            eventTime: plan.eventTime,
            channel: ctx.channel ?? null,
            contactId: ctx.contactId ?? null,
          });
        }
        results[i] = {
          identity: c.identity,
          listType: c.listType,
          outcome: plan.outcome,
          operation: plan.operation,
          auditRecordId,
          eventTime: plan.eventTime,
          optedOut: plan.next ? plan.next.opted_out : (current?.opted_out ?? false),
        };
      }
      // In this transaction, whatever the origin and mode (callbacks subscribe).
      await this.events.publish(tx, ctx.app, applied);
      pending =
        lost.size === 0
          ? []
          : pending.filter((_, k) => lost.has(stateKey(stored[k]!, pending[k]!.c.listType)));
    }
  }

  /** The row a planned change stores: its origin is the change's when it applied or is new. */
  private stateOf(ctx: ChangeContext, plan: PlannedChange, current: StoredState | null): NewState {
    const origin = plan.outcome === Outcome.APPLIED || !current ? ctx.origin : current.origin;
    return { ...plan.next!, origin };
  }

  /**
   * What applyChanges would do with these changes now, without locking or writing anything (an
   * import's dry run): the outcome of each, in the order given, decided by the same rule
   * (planChange) against the stored states, changes to one identity and list folded in order.
   */
  async previewChanges(app: AppRef, changes: readonly ChangeInput[]): Promise<Outcome[]> {
    const { states, now } = await this.consents.readStates(app.projectId, app.appId, changes);
    return changes.map((c) => {
      const key = stateKey(c.identity, c.listType);
      const plan = planChange(states.get(key) ?? null, {
        action: c.action,
        eventTime: c.eventTime,
        arrival: now,
      });
      if (plan.next) states.set(key, plan.next);
      return plan.outcome;
    });
  }

  /** Sinch Batch API semantics (insert into lists), but all-or-nothing. */
  async insertBatch(
    app: AppRef,
    records: { identification: string; consent_type: ListType }[],
    actor: string,
  ): Promise<string> {
    const violations: FieldViolation[] = [];
    const changes: ChangeInput[] = [];
    records.forEach((r, i) => {
      try {
        // No event time: each record is ordered by its arrival.
        changes.push({
          identity: normalizeIdentity(r.identification),
          listType: r.consent_type,
          action: ChangeAction.OPT_OUT,
        });
      } catch (e) {
        if (!(e instanceof InvalidIdentityError)) throw e;
        violations.push({
          field: `consent_records[${i}].identification`,
          description: `identity ${e.message}`,
        });
      }
    });
    if (violations.length > 0) {
      throw ApiError.invalidRequest(
        violations,
        `Batch rejected, nothing stored: ${violations[0]!.field}: ${violations[0]!.description}`,
      );
    }
    const batchId = newUlid();
    await this.applyChanges({ app, origin: Origin.ORIGIN_API, actor, batchId }, changes);
    return batchId;
  }

  /** The send decision for each identity, in the order asked. One query for the whole batch. */
  async check(
    app: AppRef,
    rawIdentities: readonly string[],
    contentType: ContentType,
  ): Promise<CheckAnswer> {
    const identities = this.normalizeAll(rawIdentities);
    // Only the lists that can stop this content type are fetched (see the decision matrix). The
    // mode is nearly always cached: then the query is the only wait.
    const lists = listsThatStop(contentType);
    const cachedMode = this.settings.cachedModeOf(app);
    let mode: ConsentMode;
    let rows: { identity: string; list_type: ListType }[];
    if (cachedMode !== undefined) {
      mode = cachedMode;
      rows = await this.consents.findOptOutLists(app.projectId, app.appId, identities, lists);
    } else {
      [mode, rows] = await Promise.all([
        this.settings.modeOf(app),
        this.consents.findOptOutLists(app.projectId, app.appId, identities, lists),
      ]);
    }
    return new CheckAnswer(
      mode,
      contentType,
      identities,
      this.verdictsOf(mode, contentType, identities, rows),
    );
  }

  /**
   * The send decision for each identity as consent stood at `atText` (RFC 3339 with a zone,
   * already checked by the request DTO), from the audit trail: the lists as the changes recorded
   * by then left them (AuditRepository.optOutsRecordedBy), the app's mode recorded by then
   * (SETTINGS_CHANGE records; before any, the instance's DEFAULT_MODE), decided as check() does,
   * and per identity the records that put it on its lists. 400 naming `at` when it is not a real
   * instant, before 2000, or later than the database's clock (the clock of recorded_at). Two
   * queries in parallel (mode and clock; the lists, one for any number of identities).
   */
  async checkAt(
    app: AppRef,
    rawIdentities: readonly string[],
    contentType: ContentType,
    atText: string,
  ): Promise<CheckAnswer> {
    const at = parseInstant(atText);
    if (typeof at === 'string') throw ApiError.field('at', `at ${at}`);
    const identities = this.normalizeAll(rawIdentities);
    // Erased identities are read by their stored form (their trail was rewritten to it), and
    // answered under the identity asked.
    const erased = await this.consents.erasedForms(app, identities);
    const asked = new Map<string, string>();
    for (const [identity, form] of erased) asked.set(form, identity);
    const [{ mode: recorded, now }, found] = await Promise.all([
      this.audit.modeRecordedBy(app, at),
      this.audit.optOutsRecordedBy(
        app,
        erased.size === 0 ? identities : identities.map((i) => erased.get(i) ?? i),
        listsThatStop(contentType),
        at,
      ),
    ]);
    const rows =
      erased.size === 0
        ? found
        : found.map((r) => ({ ...r, identity: asked.get(r.identity) ?? r.identity }));
    if (at.getTime() > now.getTime())
      throw ApiError.field('at', 'at must not be in the future (later than the database clock)');
    const mode = recorded ?? this.settings.defaultMode;
    // In list order, so that each identity's lists come sorted and its record ids with them.
    rows.sort((a, b) => (a.list_type < b.list_type ? -1 : a.list_type > b.list_type ? 1 : 0));
    const recordsOf = new Map<string, string[]>();
    for (const row of rows) {
      const ids = recordsOf.get(row.identity);
      if (ids) ids.push(row.audit_record_id);
      else recordsOf.set(row.identity, [row.audit_record_id]);
    }
    const none: readonly string[] = [];
    return new CheckAnswer(
      mode,
      contentType,
      identities,
      this.verdictsOf(mode, contentType, identities, rows),
      { at, decidedBy: identities.map((identity) => recordsOf.get(identity) ?? none) },
    );
  }

  /** Each identity's verdict, in the order asked, from the rows of the lists it is on. */
  private verdictsOf(
    mode: ConsentMode,
    contentType: ContentType,
    identities: readonly string[],
    rows: readonly { identity: string; list_type: ListType }[],
  ): Verdict[] {
    // A verdict depends only on the mode, the content type and the set of matched lists (at most
    // 48 combinations): each is decided once per instance and shared (see verdict()).
    // The per-call map keyed by the lists alone is deliberate: building the instance-wide key
    // for every opted-out identity of a 10,000-identity check cost about 3 ms more per check.
    const local = new Map<string, Verdict>();
    const verdictFor = (matched: ListType[]): Verdict => {
      const key = matched.join(',');
      let verdict = local.get(key);
      if (!verdict) {
        verdict = this.verdict(mode, contentType, matched, key);
        local.set(key, verdict);
      }
      return verdict;
    };
    const none = verdictFor([]);
    const verdicts = new Array<Verdict>(identities.length);
    if (identities.length === 1) {
      // The transactional send's check: no map needed.
      verdicts[0] = rows.length === 0 ? none : verdictFor(rows.map((r) => r.list_type).sort());
    } else {
      const listsOf = new Map<string, ListType[]>();
      for (const row of rows) {
        const on = listsOf.get(row.identity);
        if (on) on.push(row.list_type);
        else listsOf.set(row.identity, [row.list_type]);
      }
      for (let i = 0; i < identities.length; i++) {
        const on = listsOf.get(identities[i]!);
        verdicts[i] = on ? verdictFor(on.length > 1 ? on.sort() : on) : none;
      }
    }
    return verdicts;
  }

  /** The (shared, frozen) verdict of a mode, content type and sorted set of matched lists. */
  private verdict(
    mode: ConsentMode,
    contentType: ContentType,
    matched: ListType[],
    listsKey: string,
  ): Verdict {
    const key = `${mode}|${contentType}|${listsKey}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      const v = this.strategies.forMode(mode).decide({ contentType, matchedLists: matched });
      verdict = Object.freeze({
        decision: v.decision,
        opted_out: matched.length > 0,
        lists: Object.freeze([...matched]),
        reason: v.reason,
      });
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }

  /** Normalises every identity; a 400 naming each bad one (at most 100) when any is invalid. */
  private normalizeAll(rawIdentities: readonly string[]): string[] {
    const identities = new Array<string>(rawIdentities.length);
    const violations: FieldViolation[] = [];
    for (let i = 0; i < rawIdentities.length; i++) {
      try {
        identities[i] = normalizeIdentity(rawIdentities[i]!);
      } catch (e) {
        if (!(e instanceof InvalidIdentityError)) throw e;
        if (violations.length < 100)
          violations.push({ field: `identities[${i}]`, description: `identity ${e.message}` });
      }
    }
    if (violations.length > 0) {
      throw ApiError.invalidRequest(violations);
    }
    return identities;
  }

  /** Every list of the app with the number of identities on it now (0 for an empty one). */
  async listSizes(app: AppRef): Promise<{ list_type: ListType; size: number }[]> {
    const sizes = await this.consents.listSizes(app.projectId, app.appId);
    return LIST_TYPES.map((listType) => ({ list_type: listType, size: sizes.get(listType) ?? 0 }));
  }

  async identityState(app: AppRef, identity: string) {
    const stored = await this.storedIdentity(app, identity);
    const rows = await this.consents.findOptOuts(app.projectId, app.appId, stored);
    return {
      identity,
      opted_out: rows.length > 0,
      lists: rows.map((r) => ({
        list_type: r.list_type,
        since: r.since.toISOString(),
        origin: r.origin,
      })),
    };
  }

  async listPage(app: AppRef, listType: ListType, pageSize: number, pageToken?: string) {
    const after = readPageToken(pageToken) ?? null;
    // Fetch one extra row to know whether another page exists.
    const rows = await this.consents.listOptedOut(
      app.projectId,
      app.appId,
      listType,
      after,
      pageSize + 1,
    );
    const page = rows.slice(0, pageSize);
    const next = rows.length > pageSize ? encodePageToken(page[page.length - 1]!) : '';
    return { identities: page, nextPageToken: next };
  }

  /** One page of an identity's audit records in id order: all kinds, or only `kinds`. */
  async auditPage(
    app: AppRef,
    identity: string,
    pageSize: number,
    pageToken?: string,
    kinds?: readonly AuditRecordKind[],
  ): Promise<{ records: AuditRecordEntity[]; nextPageToken: string }> {
    const afterId = readPageToken(pageToken, true) ?? '0';
    const rows = await this.audit.listForIdentity(
      app.projectId,
      app.appId,
      await this.storedIdentity(app, identity),
      pageSize + 1,
      afterId,
      kinds,
    );
    const page = rows.slice(0, pageSize);
    const next = rows.length > pageSize ? encodePageToken(String(page[page.length - 1]!.id)) : '';
    return { records: page, nextPageToken: next };
  }
}
