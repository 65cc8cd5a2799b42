import { pino } from 'pino';
import { AppConfig, ConfigError, loadConfig, loadDotEnv } from './config/app-config.js';
import { startServer } from './bootstrap.js';
import { DataDirLockedError } from './database/data-dir-lock.js';
import { pinoOptions } from './logging/logging.js';

let config: AppConfig | undefined;
try {
  loadDotEnv();
  config = loadConfig();
  await startServer(config);
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof DataDirLockedError && config) {
    // The application does not exist yet: one JSON line through a logger of the same options.
    pino(pinoOptions(config)).error(
      { context: 'EmbeddedPostgres', data_dir: e.dir, holder_pid: e.pid, holder_host: e.host },
      e.message,
    );
    process.exit(1);
  }
  throw e;
}
