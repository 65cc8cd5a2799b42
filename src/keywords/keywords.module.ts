import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SettingsModule } from '../settings/settings.module.js';
import { CustomKeywordEntity } from './custom-keyword.entity.js';
import { KeywordsService } from './keywords.service.js';
import { KeywordsController } from './keywords.controller.js';

/**
 * Keywords: the app's custom keywords (CRUD), a dry run, and KeywordsService, which the webhook
 * intake uses to decide what an inbound text means.
 */
@Module({
  imports: [TypeOrmModule.forFeature([CustomKeywordEntity]), SettingsModule],
  controllers: [KeywordsController],
  providers: [KeywordsService],
  exports: [KeywordsService],
})
export class KeywordsModule {}
