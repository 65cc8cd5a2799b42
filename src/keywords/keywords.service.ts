import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { AppConfigCache, appScope, ConfigNamespace } from '../config-cache/app-config-cache.js';
import type { ListType } from '../consent/domain/consent-types.js';
import { AppRef, appPath } from '../kernel/app-ref.js';
import { CachedSettings, SettingsService } from '../settings/settings.service.js';
import { CustomKeywordEntity } from './custom-keyword.entity.js';
import { buildRuleSet, validateCustomKeyword } from './domain/custom-keywords.js';
import { DEFAULT_KEYWORDS, replyFor } from './domain/default-keywords.js';
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
export type KeywordSettings = Pick<CachedSettings, 'profile' | 'auto_reply' | 'replies'>;

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

/** First key of the two-key advisory lock that serialises keyword changes of one app. */
const KEYWORD_LOCK_CLASS = 0x4b57; // "KW"

/**
 * Custom keywords per app, and the keyword decision for inbound texts. The app's matcher
 * (defaults + custom keywords) is cached in the AppConfigCache, dropped on every instance when
 * the app's keywords change; the keyword settings come from SettingsService (cached there).
 */
@Injectable()
export class KeywordsService {
  private readonly logger = new Logger('KeywordsService');
  private readonly matchers: ConfigNamespace<KeywordMatcher>;

  constructor(
    @InjectRepository(CustomKeywordEntity)
    private readonly repo: Repository<CustomKeywordEntity>,
    private readonly settings: SettingsService,
    private readonly cache: AppConfigCache,
  ) {
    this.matchers = cache.namespace('matcher', 'app');
  }

  /** The app's matcher: the defaults plus its custom keywords. Cached. */
  matcherFor(app: AppRef): Promise<KeywordMatcher> {
    return this.matchers.get(appScope(app), () => this.loadMatcher(app));
  }

  /** The keyword settings of the app (profile, auto_reply, reply overrides). Cached. */
  settingsFor(app: AppRef): Promise<KeywordSettings> {
    return this.settings.settingsOf(app);
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
    const [matcher, settings] = await Promise.all([this.loadMatcher(app), this.settings.load(app)]);
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
    const row = await this.cache.write(appScope(app), async (tx) => {
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
    this.logger.log(`custom keyword created app=${app.appId} id=${row.id} action=${row.action}`);
    return toStored(row);
  }

  /** Deletes one of the app's custom keywords; 404 when the app has no keyword with this id. */
  async delete(app: AppRef, id: string): Promise<StoredKeyword> {
    const result = await this.cache.write(appScope(app), (tx) =>
      tx
        .createQueryBuilder()
        .delete()
        .from(CustomKeywordEntity)
        .where('id = :id AND project_id = :projectId AND app_id = :appId', {
          id,
          projectId: app.projectId,
          appId: app.appId,
        })
        .returning(['id', 'phrase', 'action', 'list_type', 'language'])
        .execute(),
    );
    const rows = (Array.isArray(result.raw) ? result.raw : []) as CustomKeywordEntity[];
    const row = rows[0];
    if (!row) throw ApiError.notFound(`This app has no custom keyword ${id}.`);
    this.logger.log(`custom keyword deleted app=${app.appId} id=${row.id}`);
    return toStored(row);
  }

  private async loadMatcher(app: AppRef): Promise<KeywordMatcher> {
    const rows = await this.findCustom(app);
    return new KeywordMatcher(buildRuleSet(rows.map(toRule)));
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
