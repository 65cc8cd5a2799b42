import { type AppRef, appPath } from '../kernel/app-ref.js';
/**
 * The in-memory part of the one cache of app configuration (no I/O; AppConfigCache adds the
 * database side). It holds namespaces, one per kind of entry ('settings', 'matcher', ...): an
 * app namespace is keyed by appScope(app), the API keys namespace by token. A change names a
 * scope, appScope(app) or API_KEYS_SCOPE, and drops its entries from every namespace.
 *
 * - While `listening` (every change anywhere reaches this instance as a drop), entries live until
 *   dropped. Otherwise each lives for its namespace's TTL: the fallback while notifications may
 *   be missed. A TTL of 0 turns caching off for that namespace.
 * - An entry may also carry its own deadline (an access token's exp), which holds in both cases.
 * - Loads are single-flight per entry, and a load that started before a drop is returned to its
 *   callers but not kept (it may have read the configuration before the change).
 * - Bounded: at most `maxEntries` per namespace; the oldest go first.
 */
export interface ConfigStoreOptions {
  /** TTL of app namespaces (SETTINGS_CACHE_TTL_MS). */
  appTtlMs: number;
  /** TTL of API keys namespaces (AUTH_CACHE_TTL_MS). */
  authTtlMs: number;
  maxEntries?: number;
}

/** The scope of the API keys (not an app's: key ids and secrets are global). */
export const API_KEYS_SCOPE = 'api-keys';

/** The scope of one app's configuration (also the text of its notification). */
export function appScope(app: AppRef): string {
  return `app:${appPath(app)}`;
}

interface Entry<V> {
  value: V;
  /** Date.now() deadline that applies only while not listening. */
  ttlUntil: number;
  /** Date.now() deadline that always applies (Infinity: none). */
  until: number;
}

/** One kind of entry. Its `peek` is the hot path's read: one Map lookup, no promise. */
export class ConfigNamespace<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly pending = new Map<string, Promise<V>>();

  constructor(
    private readonly store: ConfigStore,
    readonly kind: 'app' | 'auth',
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The cached value, or undefined. */
  peek(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until !== Infinity || !this.store.listening) {
      const now = Date.now();
      if (now >= entry.until || (!this.store.listening && now >= entry.ttlUntil)) {
        this.entries.delete(key);
        return undefined;
      }
    }
    return entry.value;
  }

  /**
   * The cached value, else `load()`'s, kept unless a change was dropped meanwhile. Concurrent
   * callers share one load; one that joined another caller's load and saw it fail loads for
   * itself (the load may run in the other caller's transaction, which may have failed for its
   * own reasons). `until` gives the entry a deadline of its own (Date.now() based).
   */
  get(key: string, load: () => Promise<V>, until?: (value: V) => number): Promise<V> {
    const hit = this.peek(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const shared = this.pending.get(key);
    if (shared) return shared.catch(() => this.load(key, load, until));
    return this.load(key, load, until);
  }

  /** Drops one key's entry and load in flight (`undefined`: all of them). */
  forget(key?: string): void {
    if (key === undefined) {
      this.entries.clear();
      this.pending.clear();
    } else {
      this.entries.delete(key);
      this.pending.delete(key);
    }
  }

  private load(key: string, load: () => Promise<V>, until?: (value: V) => number): Promise<V> {
    const generation = this.store.generation;
    const lookup = load().then((value) => {
      if (this.store.generation === generation && this.ttlMs > 0) {
        if (this.entries.size >= this.maxEntries) {
          this.entries.delete(this.entries.keys().next().value!);
        }
        const ttlUntil = Date.now() + this.ttlMs;
        this.entries.set(key, { value, ttlUntil, until: until ? until(value) : Infinity });
      }
      return value;
    });
    this.pending.set(key, lookup);
    const settled = () => {
      if (this.pending.get(key) === lookup) this.pending.delete(key);
    };
    lookup.then(settled, settled);
    return lookup;
  }
}

export class ConfigStore {
  private readonly namespaces = new Map<string, ConfigNamespace<unknown>>();
  private readonly maxEntries: number;
  private isListening = false;
  private drops = 0;

  constructor(private readonly options: ConfigStoreOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * Bumped on every drop: a load that started before any drop is not kept. (Per scope would
   * keep more, but drops are rare: a configuration change, a listener going down or up.)
   */
  get generation(): number {
    return this.drops;
  }

  /** True while changes made anywhere reach this instance (entries then need no TTL). */
  get listening(): boolean {
    return this.isListening;
  }

  /** A namespace of app entries (keyed by appScope) or of API keys entries (keyed by token). */
  namespace<V>(name: string, kind: 'app' | 'auth'): ConfigNamespace<V> {
    if (this.namespaces.has(name)) throw new Error(`config cache namespace ${name} exists`);
    const ttl = kind === 'auth' ? this.options.authTtlMs : this.options.appTtlMs;
    const ns = new ConfigNamespace<V>(this, kind, ttl, this.maxEntries);
    this.namespaces.set(name, ns as ConfigNamespace<unknown>);
    return ns;
  }

  /** Drops a scope's entries from every namespace: appScope(app), or API_KEYS_SCOPE. */
  drop(scope: string): void {
    this.drops++;
    const auth = scope === API_KEYS_SCOPE;
    for (const ns of this.namespaces.values()) {
      if (auth) {
        if (ns.kind === 'auth') ns.forget();
      } else if (ns.kind === 'app') {
        ns.forget(scope);
      }
    }
  }

  /** Drops every entry (changes may have been missed). */
  dropAll(): void {
    this.drops++;
    for (const ns of this.namespaces.values()) ns.forget();
  }

  /**
   * Whether changes made anywhere reach this instance. Either way everything is dropped: what
   * was cached may have missed changes (going down: since the last notification; coming up:
   * before LISTEN took effect), and entries kept while listening carry no TTL.
   */
  setListening(listening: boolean): void {
    if (listening === this.isListening) return;
    this.isListening = listening;
    this.dropAll();
  }
}
