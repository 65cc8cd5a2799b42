import { Global, Module } from '@nestjs/common';
import { AppConfigCache } from './app-config-cache.js';

/** The one cache of app configuration (AppConfigCache), for every feature module. */
@Global()
@Module({ providers: [AppConfigCache], exports: [AppConfigCache] })
export class ConfigCacheModule {}
