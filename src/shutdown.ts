import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { HotPaths } from './common/hot-paths.js';
import { JobRunner } from './jobs/job-runner.js';
import { describeError } from './jobs/polling-loop.js';

/** The signals that shut the service down (SIGTERM from an orchestrator, SIGINT from a terminal). */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Exit code of a shutdown that did not finish within SHUTDOWN_TIMEOUT_MS, or failed. */
export const EXIT_SHUTDOWN_INCOMPLETE = 1;

/**
 * The service's one shutdown path (installed by startServer once it listens): on SIGTERM or
 * SIGINT it
 * 1. stops accepting connections (a new one is refused) and answers a request arriving on a
 *    connection still open 503 with Connection: close (HttpDrain);
 * 2. closes the application (Nest's hooks): the job workers and timers stop claiming and wait for
 *    the jobs they run, the HTTP server closes once its requests in flight are answered, then the
 *    database pool and the embedded PostgreSQL (PGlite) close;
 * 3. exits 0.
 * All of it within `timeoutMs` (SHUTDOWN_TIMEOUT_MS): past it, or if closing fails, the process
 * exits 1 at once, naming what was still running. A second signal meanwhile exits 1 at once too.
 */
export function installGracefulShutdown(app: NestFastifyApplication, timeoutMs: number): void {
  const logger = new Logger('Shutdown');
  const drain = app.get(HotPaths).drain;
  const jobs = app.get(JobRunner);
  const still = () => `${drain.active} request(s) in flight, ${jobs.running} job(s) running`;
  let startedAt: number | undefined;

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    startedAt = Date.now();
    logger.log(
      `${signal}: shutting down: refusing new connections; finishing ${still()}, for up to ${timeoutMs} ms (SHUTDOWN_TIMEOUT_MS)`,
    );
    const deadline = setTimeout(() => {
      logger.error(
        `shutdown did not finish within SHUTDOWN_TIMEOUT_MS (${timeoutMs} ms): exiting with code ${EXIT_SHUTDOWN_INCOMPLETE} (${still()})`,
      );
      process.exit(EXIT_SHUTDOWN_INCOMPLETE);
    }, timeoutMs);
    void drain.begin(app.getHttpServer());
    try {
      await app.close();
    } catch (e) {
      logger.error(
        `shutdown failed: ${describeError(e)}; exiting with code ${EXIT_SHUTDOWN_INCOMPLETE}`,
      );
      process.exit(EXIT_SHUTDOWN_INCOMPLETE);
    }
    clearTimeout(deadline);
    logger.log(`shut down cleanly in ${Date.now() - startedAt} ms (database closed)`);
    process.exit(0);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (startedAt !== undefined) {
      logger.warn(
        `${signal} again while shutting down: exiting with code ${EXIT_SHUTDOWN_INCOMPLETE} now (${still()})`,
      );
      process.exit(EXIT_SHUTDOWN_INCOMPLETE);
    }
    void shutdown(signal);
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
}
