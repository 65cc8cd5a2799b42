import { Check, Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';
import { ListType } from '../consent/domain/consent-types.js';
import { KeywordAction } from './domain/keyword-types.js';

@Entity({ name: 'custom_keywords' })
@Index('custom_keywords_app_idx', ['project_id', 'app_id'])
@Check('custom_keywords_action_check', `action IN ('OPT_OUT', 'OPT_IN', 'HELP')`)
export class CustomKeywordEntity extends AppScopedRow {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  phrase: string;

  @Column({ type: 'varchar', length: 16 })
  action: KeywordAction;

  @Column({ type: 'varchar', length: 32, nullable: true })
  list_type: ListType | null;

  @Column({ type: 'varchar', length: 2 })
  language: string;

  @CreateDateColumn({ type: 'timestamptz' })
  created_at: Date;
}
