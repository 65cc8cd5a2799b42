import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AppConfig } from './config/app-config.js';
import { HotPaths } from './common/hot-paths.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ConfigCacheModule } from './config-cache/config-cache.module.js';
import { ApiExceptionFilter } from './common/api-exception.filter.js';
import { createValidationPipe } from './common/validation.js';
import { AuthModule } from './auth/auth.module.js';
import { SettingsModule } from './settings/settings.module.js';
import { AuditModule } from './audit/audit.module.js';
import { ConsentModule } from './consent/consent.module.js';
import { ErasureModule } from './erasure/erasure.module.js';
import { ExportsModule } from './exports/exports.module.js';
import { HealthModule } from './health/health.module.js';
import { ConsoleModule } from './console/console.module.js';
import { LoggerModule } from 'nestjs-pino';
import { loggerParams } from './logging/logging.js';
import { MetricsModule } from './metrics/metrics.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { RepliesModule } from './replies/replies.module.js';
import { KeywordsModule } from './keywords/keywords.module.js';
import { CallbacksModule } from './callbacks/callbacks.module.js';
import { SendGateModule } from './send-gate/send-gate.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { ImportsModule } from './imports/imports.module.js';

/**
 * Feature modules: consent/ (lists, checks, Sinch-compatible API), audit/ (append-only trail),
 * settings/ (per-app mode), auth/ (API keys, OAuth2). webhooks/ and keywords/ plug in beside them.
 */
@Module({})
class HotPathsModule {}

@Module({})
export class AppModule {
  /**
   * `hotPaths`: the request listener in front of Fastify that providers may answer through (see
   * HotPaths); a fresh one, which nothing calls, when the server is not built by createApp.
   */
  static forRoot(config: AppConfig, hotPaths: HotPaths = new HotPaths()): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        {
          module: HotPathsModule,
          global: true,
          providers: [{ provide: HotPaths, useValue: hotPaths }],
          exports: [HotPaths],
        },
        DatabaseModule,
        ConfigCacheModule,
        AuthModule,
        SettingsModule,
        AuditModule,
        ConsentModule,
        ExportsModule,
        RepliesModule,
        CallbacksModule,
        KeywordsModule,
        WebhooksModule,
        SendGateModule,
        ImportsModule,
        ErasureModule,
        RetentionModule,
        MetricsModule,
        HealthModule,
        ConsoleModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
      ],
    };
  }
}
