import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository.js';
import { settingsChangeRecord, type SettingsChangeEvidence } from '../audit/audit-records.js';
import { AppConfig } from '../config/app-config.js';
import { AppConfigCache, appScope, ConfigNamespace } from '../config-cache/app-config-cache.js';
import { ConsentMode } from '../consent/domain/consent-types.js';
import { ApiError } from '../common/api-error.js';
import type { ReplyOverrides } from '../keywords/domain/default-keywords.js';
import { MatchingProfile } from '../keywords/domain/keyword-types.js';
import type { AppRef } from '../kernel/app-ref.js';
import { AppSettingsEntity } from './app-settings.entity.js';
import { changedSettings } from './settings-changes.js';
import {
  ConsentSettingsResponseDto,
  PutConsentSettingsRequestDto,
} from './dto/consent-settings.dto.js';

/** What the hot paths read of an app's settings (defaults for an app with none stored). */
export interface CachedSettings {
  mode: ConsentMode;
  profile: MatchingProfile;
  auto_reply: boolean;
  replies: ReplyOverrides;
}

/**
 * Per-app consent settings, with documented defaults for apps that have none. What the check
 * and the keyword evaluation read is cached in the AppConfigCache, dropped when settings change.
 */
@Injectable()
export class SettingsService {
  private readonly cached: ConfigNamespace<CachedSettings>;

  constructor(
    @InjectRepository(AppSettingsEntity) private readonly repo: Repository<AppSettingsEntity>,
    private readonly cache: AppConfigCache,
    private readonly config: AppConfig,
    private readonly audit: AuditRepository,
  ) {
    this.cached = cache.namespace('settings', 'app');
  }

  /** The app's mode when this instance has it cached, without waiting; else undefined. */
  cachedModeOf(app: AppRef): ConsentMode | undefined {
    return this.cached.peek(appScope(app))?.mode;
  }

  /** The mode of an app with no settings stored (DEFAULT_MODE). */
  get defaultMode(): ConsentMode {
    return this.config.DEFAULT_MODE as ConsentMode;
  }

  /** The app's mode (cached). */
  async modeOf(app: AppRef): Promise<ConsentMode> {
    return (await this.settingsOf(app)).mode;
  }

  /** The app's mode, matching profile and replies (cached). */
  settingsOf(app: AppRef): Promise<CachedSettings> {
    return this.cached.get(appScope(app), () => this.load(app));
  }

  /** As settingsOf, from the database (for the dry run: a change shows at once everywhere). */
  async load(app: AppRef): Promise<CachedSettings> {
    const row = await this.find(app);
    return Object.freeze({
      mode: row?.mode ?? (this.config.DEFAULT_MODE as ConsentMode),
      profile: row?.matching_profile ?? MatchingProfile.SINCH_EXACT,
      auto_reply: row?.auto_reply ?? true,
      replies: row?.replies ?? {},
    });
  }

  async get(app: AppRef): Promise<ConsentSettingsResponseDto> {
    const row = await this.repo.findOneBy({ project_id: app.projectId, app_id: app.appId });
    return this.toDto(app, row);
  }

  /**
   * Stores the fields given (the others keep their value). A PUT that changes anything (or
   * stores an app's first settings) appends one SETTINGS_CHANGE audit record in the same
   * transaction, `actor` (API key id or "admin") as its actor.
   */
  async put(
    app: AppRef,
    dto: PutConsentSettingsRequestDto,
    actor: string,
  ): Promise<ConsentSettingsResponseDto> {
    if (dto.replies !== undefined) validateReplies(dto.replies);
    await this.cache.write(appScope(app), async (tx) => {
      const repo = tx.getRepository(AppSettingsEntity);
      const current = await repo.findOne({
        where: { project_id: app.projectId, app_id: app.appId },
        lock: { mode: 'pessimistic_write' },
      });
      const next = {
        project_id: app.projectId,
        app_id: app.appId,
        mode: dto.mode ?? current?.mode ?? (this.config.DEFAULT_MODE as ConsentMode),
        webhook_secrets: dto.webhook_secrets ?? current?.webhook_secrets ?? [],
        matching_profile:
          dto.matching_profile ?? current?.matching_profile ?? MatchingProfile.SINCH_EXACT,
        auto_reply: dto.auto_reply ?? current?.auto_reply ?? true,
        replies: dto.replies ?? current?.replies ?? {},
        updated_at: new Date(),
      };
      await repo.upsert(next, { conflictPaths: ['project_id', 'app_id'] });
      const changed = changedSettings(current, next);
      if (changed.length === 0) return;
      const evidence: SettingsChangeEvidence = {
        mode: next.mode,
        matching_profile: next.matching_profile,
        auto_reply: next.auto_reply,
        reply_languages: Object.keys(next.replies).sort(),
        webhook_secrets_count: next.webhook_secrets.length,
        previous_mode: current?.mode ?? (this.config.DEFAULT_MODE as ConsentMode),
        changed,
      };
      await this.audit.append(
        tx,
        settingsChangeRecord({ app, actor, evidence, eventTime: next.updated_at }),
      );
    });
    return this.get(app);
  }

  /** The stored settings row, or null for an app with none (defaults apply). */
  async find(app: AppRef): Promise<AppSettingsEntity | null> {
    return this.repo.findOneBy({ project_id: app.projectId, app_id: app.appId });
  }

  private toDto(app: AppRef, row: AppSettingsEntity | null): ConsentSettingsResponseDto {
    return {
      project_id: app.projectId,
      app_id: app.appId,
      mode: row?.mode ?? (this.config.DEFAULT_MODE as ConsentMode),
      matching_profile: row?.matching_profile ?? MatchingProfile.SINCH_EXACT,
      auto_reply: row?.auto_reply ?? true,
      replies: row?.replies ?? {},
      webhook_secrets_count: row?.webhook_secrets.length ?? 0,
      configured: row !== null,
      updated_at: row ? row.updated_at.toISOString() : null,
    };
  }
}

const REPLY_KINDS = new Set(['OPT_OUT', 'OPT_IN', 'HELP']);

/** replies: {"EN":{"OPT_OUT":"..."}}: two-letter upper-case languages, known kinds, 1-1000 chars. */
function validateReplies(replies: unknown): void {
  for (const [language, texts] of Object.entries(replies as Record<string, unknown>)) {
    if (!/^[A-Z]{2}$/.test(language))
      throw ApiError.field(
        `replies.${language}`,
        'language must be two upper-case letters (EN, ES, PT, ...)',
      );
    if (texts === null || typeof texts !== 'object' || Array.isArray(texts))
      throw ApiError.field(
        `replies.${language}`,
        'must be an object of OPT_OUT, OPT_IN, HELP texts',
      );
    for (const [kind, text] of Object.entries(texts as Record<string, unknown>)) {
      const field = `replies.${language}.${kind}`;
      if (!REPLY_KINDS.has(kind)) throw ApiError.field(field, 'must be OPT_OUT, OPT_IN or HELP');
      if (typeof text !== 'string' || text.trim().length === 0 || text.length > 1000)
        throw ApiError.field(field, 'must be a text of 1 to 1000 characters');
    }
  }
}
