import { Global, Logger, Module } from '@nestjs/common';
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

/**
 * pg-pool listens for a client's 'error' events only while the client is idle; a checked-out
 * client whose connection drops (database restart, network cut) emits 'error' with nobody
 * listening unless its user added a listener, and an unhandled 'error' event ends the process.
 * Every client gets a permanent listener on its first checkout: the error still fails the
 * client's queries, and the pool drops the broken client when it is released.
 */
export function guardClientErrors(pool: Pool): Pool {
  const guarded = new WeakSet<object>();
  const logger = new Logger('Database');
  pool.on('acquire', (client) => {
    if (guarded.has(client)) return;
    guarded.add(client);
    client.on('error', (e: Error) => logger.debug(`connection lost while in use: ${e.message}`));
  });
  return pool;
}

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
        guardClientErrors((dataSource.driver as unknown as { master: Pool }).master),
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
