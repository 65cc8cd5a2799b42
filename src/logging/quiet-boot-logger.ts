import type { LoggerService } from '@nestjs/common';

/**
 * Nest's own boot chatter (one line per module, controller and route: some 70 lines) is logged at
 * debug; the boot summary (src/boot-summary.ts) says what an operator needs.
 */
export const BOOT_NOISE_CONTEXTS: ReadonlySet<string> = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/** A logger that hands `log` lines of BOOT_NOISE_CONTEXTS to `debug`, and all else as is. */
export class QuietBootLogger implements LoggerService {
  constructor(private readonly inner: LoggerService) {}

  log(message: unknown, ...rest: unknown[]): void {
    const context = rest[rest.length - 1];
    if (typeof context === 'string' && BOOT_NOISE_CONTEXTS.has(context) && this.inner.debug) {
      this.inner.debug(message, ...rest);
    } else {
      this.inner.log(message, ...rest);
    }
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.inner.error(message, ...rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.inner.warn(message, ...rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.inner.debug?.(message, ...rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.inner.verbose?.(message, ...rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    (this.inner.fatal ?? this.inner.error).call(this.inner, message, ...rest);
  }
}
