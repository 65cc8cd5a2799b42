import { Check, Column, CreateDateColumn, Entity, UpdateDateColumn } from 'typeorm';
import { AppKeyedRow } from '../kernel/app-scoped-row.js';
import { ConsentMode } from '../consent/domain/consent-types.js';
import { MatchingProfile } from '../keywords/domain/keyword-types.js';

export type ReplyOverrides = Record<string, Partial<Record<'OPT_OUT' | 'OPT_IN' | 'HELP', string>>>;

@Entity({ name: 'app_settings' })
@Check('app_settings_mode_check', `mode IN ('PRIMARY', 'SECONDARY')`)
@Check('app_settings_matching_profile_check', `matching_profile IN ('SINCH_EXACT', 'US_FCC')`)
export class AppSettingsEntity extends AppKeyedRow {
  @Column({ type: 'varchar', length: 16 })
  mode: ConsentMode;

  /** Sinch webhook signing secrets (one, or two while rotating). Write-only in the API. */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  webhook_secrets: string[];

  @Column({ type: 'varchar', length: 16, default: 'SINCH_EXACT' })
  matching_profile: MatchingProfile;

  /** Send confirmation replies to keyword opt-outs/opt-ins and HELP. */
  @Column({ type: 'boolean', default: true })
  auto_reply: boolean;

  /** Reply texts overriding the defaults, per language: {"EN":{"OPT_OUT":"..."}}. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  replies: ReplyOverrides;

  @CreateDateColumn({ type: 'timestamptz' })
  created_at: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updated_at: Date;
}
