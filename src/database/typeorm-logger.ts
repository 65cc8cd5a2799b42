import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

const MAX = 300;

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, MAX);
}

/**
 * TypeORM's logs through the application's logger (pino in the service), as JSON like every other
 * line. Query parameters (identities, texts) are never logged, only the statement and the error
 * message. A failed query is a warning: its caller handles the error (a 503, a retried job) and
 * logs what it means. TypeORM hands a custom logger everything; what it logs here is what
 * `logging: ['error', 'warn', 'migration']` used to select: no statements, no schema builds.
 */
export class TypeOrmNestLogger implements TypeOrmLogger {
  private readonly logger = new Logger('TypeORM');

  logQuery(): void {
    // Statements are not logged.
  }

  logQueryError(error: string | Error, query: string): void {
    const message = typeof error === 'string' ? error : error.message;
    this.logger.warn(`query failed: ${oneLine(message)} (${oneLine(query)})`);
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow query (${time} ms): ${oneLine(query)}`);
  }

  logSchemaBuild(): void {
    // Schema changes go through migrations only (synchronize is off).
  }

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(oneLine(String(message)));
  }
}
