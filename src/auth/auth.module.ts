import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyService } from './api-key.service.js';
import { ApiKeyController } from './api-key.controller.js';
import { AuthGuard } from './auth.guard.js';
import { BearerAuthenticator } from './bearer-authenticator.js';
import { BootstrapAdminKey } from './bootstrap-admin-key.js';
import { OAuthController } from './oauth.controller.js';
import { TokenService } from './token.service.js';
import { WhoamiController } from './whoami.controller.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity])],
  controllers: [ApiKeyController, OAuthController, WhoamiController],
  providers: [
    ApiKeyService,
    TokenService,
    BearerAuthenticator,
    BootstrapAdminKey,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [ApiKeyService, BearerAuthenticator, BootstrapAdminKey],
})
export class AuthModule {}
