import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { TtlCache } from '../common/ttl-cache.js';
import { AppConfig } from '../config/app-config.js';
import type { ListType } from '../consent/domain/consent-types.js';
import { AppRef, appKey, appPath } from '../kernel/app-ref.js';
import { SettingsService } from '../settings/settings.service.js';
import { CustomKeywordEntity } from './custom-keyword.entity.js';
import { buildRuleSet, validateCustomKeyword } from './domain/custom-keywords.js';
import { DEFAULT_KEYWORDS, type ReplyOverrides, replyFor } from './domain/default-keywords.js';
import { KeywordMatcher } from './domain/keyword-matcher.js';
import {
  KeywordAction,
  type KeywordMatch,
  type KeywordRule,
  MatchingProfile,
} from './domain/keyword-types.js';
import { MAX_CUSTOM_KEYWORDS } from './dto/keywords.dto.js';
import { keywordViolations } from './keyword-violations.js';

/** What an inbound text means for an app: the match, the reply to send, and whether to send it. */
export interface KeywordEvaluation {
  match: KeywordMatch;
  /** The confirmation text (the app's override, else the default), whether or not it is sent. */
  reply: string;
  /** The app's auto_reply setting: send `reply` only when true. */
  auto_reply: boolean;
  profile: MatchingProfile;
}

/** The keyword part of an app's consent settings (defaults for an app with none stored). */
export interface KeywordSettings {
  profile: MatchingProfile;
  auto_reply: boolean;
  replies: ReplyOverrides;
}

/** A stored custom keyword or a default one (id null). */
export interface StoredKeyword {
  id: string | null;
  phrase: string;
  action: KeywordAction;
  list_type: ListType | null;
  language: string;
  source: 'DEFAULT' | 'CUSTOM';
}

export interface NewKeyword {
  phrase: string;
  action: KeywordAction;
  /** Required for OPT_OUT and OPT_IN; absent or null for HELP. */
  list_type?: ListType | null;
  language: string;
}

const DEFAULT_SETTINGS: KeywordSettings = Object.freeze({
  profile: MatchingProfile.SINCH_EXACT,
  auto_reply: true,
  replies: Object.freeze({}),
});

/** First key of the two-key advisory lock that serialises keyword changes of one app. */
const KEYWORD_LOCK_CLASS = 0x4b57; // "KW"

/**
 * Custom keywords per app, and the keyword decision for inbound texts.
 *
 * Caches (per instance, SETTINGS_CACHE_TTL_MS): the app's matcher (defaults + custom keywords),
 * dropped on this instance whenever the app's keywords change here, and the keyword settings
 * (profile, auto_reply, replies). Other instances see a change within the TTL.
 */
@Injectable()
export class KeywordsService {
  private readonly logger = new Logger('KeywordsService');
  private readonly matchers: TtlCache<KeywordMatcher>;
  private readonly settingsCache: TtlCache<KeywordSettings>;
  /** Lookups in flight, shared by concurrent callers. */
  private readonly pendingMatchers = new Map<string, Promise<KeywordMatcher>>();
  private readonly pendingSettings = new Map<string, Promise<KeywordSettings>>();
  /**
   * Bumped on every keyword change: a matcher loaded before a change must not be cached after it
   * (its load may have read the old rows).
   */
  private generation = 0;

  constructor(
    @InjectRepository(CustomKeywordEntity)
    private readonly repo: Repository<CustomKeywordEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly settings: SettingsService,
    config: AppConfig,
  ) {
    this.matchers = new TtlCache(config.SETTINGS_CACHE_TTL_MS);
    this.settingsCache = new TtlCache(config.SETTINGS_CACHE_TTL_MS);
    settings.onChange((app) => this.invalidate(app));
  }

  /** The app's matcher: the defaults plus its custom keywords. Cached. */
  matcherFor(app: AppRef): Promise<KeywordMatcher> {
    const key = appKey(app);
    const cached = this.matchers.get(key);
    if (cached) return Promise.resolve(cached);
    let lookup = this.pendingMatchers.get(key);
    if (!lookup) {
      const generation = this.generation;
      lookup = this.loadMatcher(app)
        .then((matcher) => {
          if (generation === this.generation) this.matchers.set(key, matcher);
          return matcher;
        })
        .finally(() => {
          if (this.pendingMatchers.get(key) === lookup) this.pendingMatchers.delete(key);
        });
      this.pendingMatchers.set(key, lookup);
    }
    return lookup;
  }

  /** The keyword settings of the app (profile, auto_reply, reply overrides). Cached. */
  settingsFor(app: AppRef): Promise<KeywordSettings> {
    const key = appKey(app);
    const cached = this.settingsCache.get(key);
    if (cached) return Promise.resolve(cached);
    let lookup = this.pendingSettings.get(key);
    if (!lookup) {
      lookup = this.loadSettings(app)
        .then((s) => {
          this.settingsCache.set(key, s);
          return s;
        })
        .finally(() => this.pendingSettings.delete(key));
      this.pendingSettings.set(key, lookup);
    }
    return lookup;
  }

  /**
   * What an inbound text means for the app, or null when it is no keyword. Cheap: one cached
   * matcher, one cached settings lookup, one normalisation and map lookup.
   */
  async evaluate(app: AppRef, text: string): Promise<KeywordEvaluation | null> {
    const [matcher, settings] = await Promise.all([this.matcherFor(app), this.settingsFor(app)]);
    return evaluateWith(matcher, settings, text);
  }

  /**
   * As evaluate, but from the database, not the caches (for the dry-run endpoint, so that a
   * change made through another instance shows at once). Returns the settings too, for callers
   * that report them when nothing matched.
   */
  async evaluateFresh(
    app: AppRef,
    text: string,
  ): Promise<{ evaluation: KeywordEvaluation | null; settings: KeywordSettings }> {
    const [matcher, settings] = await Promise.all([this.loadMatcher(app), this.loadSettings(app)]);
    return { evaluation: evaluateWith(matcher, settings, text), settings };
  }

  /** Defaults first, then the app's custom keywords, oldest first. */
  async list(app: AppRef, source?: 'DEFAULT' | 'CUSTOM'): Promise<StoredKeyword[]> {
    const out: StoredKeyword[] = [];
    if (source !== 'CUSTOM') {
      for (const rule of DEFAULT_KEYWORDS) out.push({ id: null, ...ruleFields(rule) });
    }
    if (source !== 'DEFAULT') {
      for (const row of await this.findCustom(app)) out.push(toStored(row));
    }
    return out;
  }

  /**
   * Adds a custom keyword after checking it against the rules in force. Changes of one app are
   * serialised by a transaction-scoped advisory lock, so two concurrent creates of the same phrase
   * cannot both pass the check.
   */
  async create(app: AppRef, input: NewKeyword): Promise<StoredKeyword> {
    const row = await this.dataSource.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [
        KEYWORD_LOCK_CLASS,
        appPath(app),
      ]);
      const repo = tx.getRepository(CustomKeywordEntity);
      const existing = await repo.find({
        where: { project_id: app.projectId, app_id: app.appId },
        order: { id: 'ASC' },
      });
      if (existing.length >= MAX_CUSTOM_KEYWORDS) {
        throw ApiError.invalidRequest(
          [],
          `An app can have at most ${MAX_CUSTOM_KEYWORDS} custom keywords; delete one first.`,
        );
      }
      const errors = validateCustomKeyword(input, buildRuleSet(existing.map(toRule)));
      if (errors.length > 0) throw ApiError.invalidRequest(keywordViolations(errors));
      const entity = repo.create({
        id: newUlid(),
        project_id: app.projectId,
        app_id: app.appId,
        phrase: input.phrase.trim(),
        action: input.action,
        list_type: input.list_type ?? null,
        language: input.language,
      });
      await repo.insert(entity);
      return entity;
    });
    this.invalidate(app);
    this.logger.log(`custom keyword created app=${app.appId} id=${row.id} action=${row.action}`);
    return toStored(row);
  }

  /** Deletes one of the app's custom keywords; 404 when the app has no keyword with this id. */
  async delete(app: AppRef, id: string): Promise<StoredKeyword> {
    const result = await this.repo
      .createQueryBuilder()
      .delete()
      .from(CustomKeywordEntity)
      .where('id = :id AND project_id = :projectId AND app_id = :appId', {
        id,
        projectId: app.projectId,
        appId: app.appId,
      })
      .returning(['id', 'phrase', 'action', 'list_type', 'language'])
      .execute();
    const rows = (Array.isArray(result.raw) ? result.raw : []) as CustomKeywordEntity[];
    const row = rows[0];
    if (!row) throw ApiError.notFound(`This app has no custom keyword ${id}.`);
    this.invalidate(app);
    this.logger.log(`custom keyword deleted app=${app.appId} id=${row.id}`);
    return toStored(row);
  }

  /** Drops this instance's cached matcher of the app. */
  invalidate(app: AppRef): void {
    const key = appKey(app);
    this.generation++;
    this.matchers.delete(key);
    this.pendingMatchers.delete(key);
  }

  private async loadMatcher(app: AppRef): Promise<KeywordMatcher> {
    const rows = await this.findCustom(app);
    return new KeywordMatcher(buildRuleSet(rows.map(toRule)));
  }

  private async loadSettings(app: AppRef): Promise<KeywordSettings> {
    const row = await this.settings.find(app);
    if (!row) return DEFAULT_SETTINGS;
    return {
      profile: row.matching_profile ?? MatchingProfile.SINCH_EXACT,
      auto_reply: row.auto_reply ?? true,
      replies: row.replies ?? {},
    };
  }

  private findCustom(app: AppRef): Promise<CustomKeywordEntity[]> {
    return this.repo.find({
      where: { project_id: app.projectId, app_id: app.appId },
      order: { id: 'ASC' },
    });
  }
}

function evaluateWith(
  matcher: KeywordMatcher,
  settings: KeywordSettings,
  text: string,
): KeywordEvaluation | null {
  const match = matcher.match(text, settings.profile);
  if (!match) return null;
  return {
    match,
    reply: replyFor(match.rule.action, match.rule.language, settings.replies),
    auto_reply: settings.auto_reply,
    profile: settings.profile,
  };
}

function toRule(row: CustomKeywordEntity): KeywordRule {
  return {
    phrase: row.phrase,
    action: row.action,
    list_type: row.list_type ?? null,
    language: row.language,
    source: 'CUSTOM',
  };
}

function ruleFields(rule: KeywordRule): Omit<StoredKeyword, 'id'> {
  return {
    phrase: rule.phrase,
    action: rule.action,
    list_type: rule.list_type,
    language: rule.language,
    source: rule.source,
  };
}

function toStored(row: CustomKeywordEntity): StoredKeyword {
  return { id: row.id, ...ruleFields(toRule(row)) };
}
