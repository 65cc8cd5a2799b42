import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { buildDataSourceOptions } from './typeorm-options.js';

/** The node-postgres pool under TypeORM, for the few hot read paths written in plain SQL. */
export const PG_POOL = Symbol('PG_POOL');

/**
 * Whether named (server-side prepared) statements may be used. Not on the embedded database:
 * all pglite-socket connections share one PostgreSQL session, so a statement name prepared by one
 * connection already exists for the next ("prepared statement ... already exists").
 */
export const NAMED_STATEMENTS = Symbol('NAMED_STATEMENTS');

@Module({ providers: [EmbeddedPostgres], exports: [EmbeddedPostgres] })
class EmbeddedPostgresModule {}

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      imports: [EmbeddedPostgresModule],
      inject: [AppConfig, EmbeddedPostgres],
      useFactory: async (config: AppConfig, embedded: EmbeddedPostgres) => {
        const url =
          config.DATABASE_URL ??
          (await embedded.start(config.DATA_DIR, config.DATABASE_POOL_SIZE + 4));
        return {
          ...buildDataSourceOptions(config, url),
          migrationsRun: config.MIGRATIONS_RUN,
          retryAttempts: 0,
        };
      },
    }),
  ],
  providers: [
    {
      provide: PG_POOL,
      inject: [DataSource],
      useFactory: (dataSource: DataSource): Pool =>
        (dataSource.driver as unknown as { master: Pool }).master,
    },
    {
      provide: NAMED_STATEMENTS,
      inject: [DataSource],
      useFactory: async (dataSource: DataSource): Promise<boolean> => {
        const rows: { version: string }[] = await dataSource.query('SELECT version() AS version');
        return !/PGlite/i.test(rows[0]?.version ?? '');
      },
    },
  ],
  exports: [PG_POOL, NAMED_STATEMENTS],
})
export class DatabaseModule {}
