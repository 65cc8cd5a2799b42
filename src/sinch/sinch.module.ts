import { Logger, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { SinchClient, sinchOptionsFromConfig } from './sinch-client.js';

/**
 * Injection token of the Sinch Conversation API client: a `SinchClient`, or `null` when
 * SINCH_PROJECT_ID, SINCH_KEY_ID or SINCH_KEY_SECRET is missing (replies are then not sent).
 */
export const SINCH_CLIENT = Symbol('SINCH_CLIENT');

/** Builds the one SinchClient of the process from the configuration. */
export function createSinchClient(config: AppConfig, logger?: Logger): SinchClient | null {
  const options = sinchOptionsFromConfig(config);
  if (!options) {
    // At debug: the boot summary says it (a warning) once.
    logger?.debug(
      'SINCH_PROJECT_ID, SINCH_KEY_ID and SINCH_KEY_SECRET are not all set: confirmation replies wait as failed attempts until REPLY_GIVE_UP_AFTER_S, and the send gate answers 503 to sends it would forward.',
    );
    return null;
  }
  return new SinchClient({ ...options, timeoutMs: config.SINCH_TIMEOUT_MS });
}

@Module({
  providers: [
    {
      provide: SINCH_CLIENT,
      inject: [AppConfig],
      useFactory: (config: AppConfig): SinchClient | null =>
        createSinchClient(config, new Logger('Sinch')),
    },
  ],
  exports: [SINCH_CLIENT],
})
export class SinchModule {}
