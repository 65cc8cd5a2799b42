import { ConfigError, loadConfig } from './config/app-config.js';
import { startServer } from './bootstrap.js';

try {
  await startServer(loadConfig());
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
