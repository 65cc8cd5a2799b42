import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { ConfigStore } from './config-store.js';

export { API_KEYS_SCOPE, appScope, ConfigNamespace } from './config-store.js';

/** The channel on which every instance announces, and hears of, configuration changes. */
export const CONFIG_CHANNEL = 'consent_gate_config';

/** Each instance's own probe notification starts with this; other instances ignore them. */
const PROBE_PREFIX = 'probe:';
/**
 * Longest wait at boot for the listener to confirm that notifications arrive; heartbeat period;
 * first and longest wait before reconnecting (doubling in between).
 */
const BOOT_WAIT_MS = 5000,
  HEARTBEAT_MS = 10_000,
  RETRY_MIN_MS = 500,
  RETRY_MAX_MS = 30_000;

/**
 * The one cache of app configuration: per app its settings, keyword matcher and callback
 * subscriptions, and the verified API keys and tokens (see ConfigStore for the entries).
 *
 * Every change goes through `write`: its transaction runs `pg_notify(CONFIG_CHANNEL, scope)`, so
 * the notification is sent on commit (and never for a rollback), and the scope is dropped on this
 * instance as soon as the transaction ends. Every instance keeps one dedicated connection (a pg
 * Client, not from the pool) that LISTENs on the channel and drops the named scope on each
 * notification. The listener counts as up once a probe it sends through the pool comes back on
 * it; while it is down (not yet confirmed, lost, reconnecting) entries expire by their TTL, and
 * everything is dropped when it goes down and when it comes back. A heartbeat every 10 s finds
 * a connection that died without a word.
 *
 * On PGlite (the embedded default, and the database the test suite serves) a notification
 * reaches only the connection that sent it, never another one: all connections share one
 * session. There is no listener then: the instance that writes drops at once, any other
 * instance (only the test suite runs several on one PGlite) follows within the TTL.
 */
@Injectable()
export class AppConfigCache
  extends ConfigStore
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger('AppConfigCache');
  private client?: pg.Client;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private probe?: string;
  private readonly confirmed: (() => void)[] = [];
  private downSince?: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {
    super({ appTtlMs: config.SETTINGS_CACHE_TTL_MS, authTtlMs: config.AUTH_CACHE_TTL_MS });
  }

  /**
   * Runs `work` in a transaction that announces a change of `scope` (appScope(app) or
   * API_KEYS_SCOPE) to every instance on commit, then drops the scope here.
   */
  async write<T>(scope: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(async (tx) => {
        const result = await work(tx);
        await tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, scope]);
        return result;
      });
    } finally {
      this.drop(scope);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    const rows: { version: string }[] = await this.dataSource.query('SELECT version() AS version');
    if (/PGlite/i.test(rows[0]?.version ?? '')) {
      // At debug: expected of the embedded database, which has one instance.
      this.logger.debug(
        'PGlite: no LISTEN/NOTIFY between connections; configuration changes are seen at once ' +
          'on this instance, on any other within SETTINGS_CACHE_TTL_MS / AUTH_CACHE_TTL_MS',
      );
      return;
    }
    const up = new Promise<void>((resolve) => this.confirmed.push(resolve));
    void this.connect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([up, new Promise<void>((r) => (timer = setTimeout(r, BOOT_WAIT_MS)))]);
    clearTimeout(timer);
    if (!this.listening) {
      this.logger.warn(
        `configuration changes not heard within ${BOOT_WAIT_MS} ms of boot: caches expire by TTL until they are`,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    this.setListening(false);
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: (this.dataSource.options as { url?: string }).url,
      connectionTimeoutMillis: this.config.DATABASE_CONNECT_TIMEOUT_MS,
      query_timeout: HEARTBEAT_MS / 2,
      application_name: 'consent-gate-listener',
      keepAlive: true,
    });
    this.client = client;
    client.on('error', (e) => this.lost(client, e));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.heard(n.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${CONFIG_CHANNEL}`);
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => {
        client.query('SELECT 1').catch((e: Error) => this.lost(client, e));
      }, HEARTBEAT_MS).unref();
      // Sent through the pool, so it proves that another session's notifications arrive (they
      // do not through a pooler in transaction mode, for one).
      this.probe = `${PROBE_PREFIX}${randomBytes(9).toString('base64url')}`;
      await this.dataSource.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, this.probe]);
    } catch (e) {
      this.lost(client, e as Error);
    }
  }

  private heard(payload: string): void {
    if (payload.startsWith(PROBE_PREFIX)) {
      if (payload !== this.probe) return;
      this.probe = undefined;
      this.retryMs = RETRY_MIN_MS;
      this.setListening(true);
      if (this.downSince !== undefined) {
        this.logger.log(
          `listening for configuration changes again after ${Date.now() - this.downSince} ms`,
        );
        this.downSince = undefined;
      }
      for (const resolve of this.confirmed.splice(0)) resolve();
      return;
    }
    this.drop(payload);
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.probe = undefined;
    clearInterval(this.heartbeat);
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.setListening(false);
    if (this.stopped) return;
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.logger.warn(
        `configuration listener down (${error?.message ?? 'connection ended'}): caches expire by TTL until it is back`,
      );
    }
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
