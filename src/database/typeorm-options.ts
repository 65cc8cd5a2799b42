import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { AppSettingsEntity } from '../settings/app-settings.entity.js';
import { ConsentStateEntity } from '../consent/consent-state.entity.js';
import { AuditRecordEntity } from '../audit/audit-record.entity.js';
import { ApiKeyEntity } from '../auth/api-key.entity.js';
import { ServiceSecretEntity } from '../auth/service-secret.entity.js';
import { InitialSchema1763800000000 } from './migrations/1763800000000-initial-schema.js';
import { WebhooksKeywordsOutbox1763900000000 } from './migrations/1763900000000-webhooks-keywords-outbox.js';
import { WebhookDeliveryEntity } from '../webhooks/webhook-delivery.entity.js';
import { WebhookNonceEntity } from '../webhooks/webhook-nonce.entity.js';
import { CustomKeywordEntity } from '../keywords/custom-keyword.entity.js';
import { JobEntity } from '../jobs/job.entity.js';
import { CallbacksSendGate1764000000000 } from './migrations/1764000000000-callbacks-send-gate.js';
import { CallbackDeliveryEntity } from '../callbacks/callback-delivery.entity.js';
import { CallbackSubscriptionEntity } from '../callbacks/callback-subscription.entity.js';
import { AuditTrailEvents1764100000000 } from './migrations/1764100000000-audit-trail-events.js';
import { OutboxOrdering1764200000000 } from './migrations/1764200000000-outbox-ordering.js';
import { EventTimeRepair1764300000000 } from './migrations/1764300000000-event-time-repair.js';
import { JobsInDoubtRetention1764400000000 } from './migrations/1764400000000-jobs-in-doubt-retention.js';
import { ImportExportCore1764500000000 } from './migrations/1764500000000-import-export-core.js';
import { Imports1764600000000 } from './migrations/1764600000000-imports.js';
import { SettingsHistoryPointInTime1764700000000 } from './migrations/1764700000000-settings-history-point-in-time.js';
import { AuditHashChain1764800000000 } from './migrations/1764800000000-audit-hash-chain.js';
import { AuditCheckpoints1764900000000 } from './migrations/1764900000000-audit-checkpoints.js';
import { AuditCheckpointEntity } from '../audit/audit-checkpoint.entity.js';
import {
  ImportEntity,
  ImportErrorEntity,
  ImportPartEntity,
  ImportRowEntity,
} from '../imports/import.entity.js';
import { ContactIdentityEntity } from '../contacts/contact-identity.entity.js';
import { SendAttemptEntity } from '../send-gate/send-attempt.entity.js';
import { TypeOrmNestLogger } from './typeorm-logger.js';
import { IdentityErasureEntity } from '../erasure/identity-erasure.entity.js';
import { IdentityErasure1765000000000 } from './migrations/1765000000000-identity-erasure.js';
import { AuditChainTriggerPerRow1765100000000 } from './migrations/1765100000000-audit-chain-trigger-per-row.js';
import { AuditChainLanes1765200000000 } from './migrations/1765200000000-audit-chain-lanes.js';
import { ImportParts1765300000000 } from './migrations/1765300000000-import-parts.js';

export const ENTITIES = [
  AppSettingsEntity,
  ConsentStateEntity,
  AuditRecordEntity,
  ApiKeyEntity,
  ServiceSecretEntity,
  WebhookNonceEntity,
  WebhookDeliveryEntity,
  CustomKeywordEntity,
  JobEntity,
  CallbackSubscriptionEntity,
  CallbackDeliveryEntity,
  ContactIdentityEntity,
  SendAttemptEntity,
  ImportEntity,
  ImportRowEntity,
  ImportPartEntity,
  ImportErrorEntity,
  AuditCheckpointEntity,
  IdentityErasureEntity,
];
export const MIGRATIONS = [
  InitialSchema1763800000000,
  WebhooksKeywordsOutbox1763900000000,
  CallbacksSendGate1764000000000,
  AuditTrailEvents1764100000000,
  OutboxOrdering1764200000000,
  EventTimeRepair1764300000000,
  JobsInDoubtRetention1764400000000,
  ImportExportCore1764500000000,
  Imports1764600000000,
  SettingsHistoryPointInTime1764700000000,
  AuditHashChain1764800000000,
  AuditCheckpoints1764900000000,
  IdentityErasure1765000000000,
  AuditChainTriggerPerRow1765100000000,
  AuditChainLanes1765200000000,
  ImportParts1765300000000,
];

/**
 * The one TypeORM options object, used by the app (TypeOrmModule) and by the migrations CLI
 * (ormconfig.ts). Schema changes only through MIGRATIONS; synchronize stays off.
 */
export function buildDataSourceOptions(config: AppConfig, url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'warn', 'migration'],
    logger: new TypeOrmNestLogger(),
    poolSize: config.DATABASE_POOL_SIZE,
    extra: {
      connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
      statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
      query_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS + 2000,
      application_name: 'consent-gate',
    },
  };
}
