import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config.js';
import { EmbeddedPostgres } from './src/database/embedded-postgres.js';
import { buildDataSourceOptions } from './src/database/typeorm-options.js';

/**
 * The DataSource for the TypeORM CLI (npm run migration:run / migration:revert), built from the
 * same options as the app. With no DATABASE_URL it opens the embedded database in DATA_DIR.
 */
const config = loadConfig();
const url =
  config.DATABASE_URL ??
  (await new EmbeddedPostgres().start(config.DATA_DIR, config.DATABASE_POOL_SIZE + 2));

export default new DataSource(buildDataSourceOptions(config, url));
