/**
 * The in-memory part of the one cache of app configuration (no I/O; AppConfigCache adds the
 * database side). Entries are grouped by scope (one app's configuration, or the API keys) and
 * named within it ('settings', 'matcher', ...); a change drops the whole scope.
 *
 * - While `listening` (every change anywhere reaches this instance as a drop), entries live until
 *   dropped. Otherwise each lives for its scope's TTL: the fallback while notifications may be
 *   missed. A TTL of 0 turns caching off for that kind of scope.
 * - An entry may also carry its own deadline (an access token's exp), which holds in both cases.
 * - Loads are single-flight per entry, and a load that started before a drop of its scope is
 *   returned to its callers but not kept (it may have read the configuration before the change).
 * - Bounded: at most `maxEntries` scopes, and entries per scope; the oldest go first.
 */
export interface ConfigStoreOptions {
  /** TTL of app scopes (SETTINGS_CACHE_TTL_MS). */
  appTtlMs: number;
  /** TTL of the API keys scope (AUTH_CACHE_TTL_MS). */
  authTtlMs: number;
  maxEntries?: number;
}

interface Entry {
  value: unknown;
  /** Date.now() deadline that applies only while not listening. */
  ttlUntil: number;
  /** Date.now() deadline that always applies (Infinity: none). */
  until: number;
}

interface Scope {
  entries: Map<string, Entry>;
  /** Bumped on every drop of the scope. */
  generation: number;
  pending: Map<string, Promise<unknown>>;
}

/** The scope of the API keys (not an app's: key ids and secrets are global). */
export const API_KEYS_SCOPE = 'api-keys';

/** The scope of one app's configuration. project_id and app_id cannot contain "/". */
export function appScope(app: { projectId: string; appId: string }): string {
  return `app:${app.projectId}/${app.appId}`;
}

export class ConfigStore {
  private readonly scopes = new Map<string, Scope>();
  /** Bumped on every dropAll: a load that started before it is not kept either. */
  private epoch = 0;
  private readonly maxEntries: number;
  private isListening = false;

  constructor(private readonly options: ConfigStoreOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** True while changes made anywhere reach this instance (entries then need no TTL). */
  get listening(): boolean {
    return this.isListening;
  }

  /** The cached value, or undefined. The hot path's read: two Map lookups, no promise. */
  peek<V>(scope: string, name: string): V | undefined {
    const entry = this.scopes.get(scope)?.entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.until !== Infinity || !this.isListening) {
      const now = Date.now();
      if (now >= entry.until || (!this.isListening && now >= entry.ttlUntil)) {
        this.scopes.get(scope)!.entries.delete(name);
        return undefined;
      }
    }
    return entry.value as V;
  }

  /**
   * The cached value, else `load()`'s, kept unless the scope changed meanwhile. Concurrent callers
   * share one load; one that joined another caller's load and saw it fail loads for itself (the
   * load may run in the other caller's transaction, which may have failed for its own reasons).
   * `until` gives the entry a deadline of its own (Date.now() based).
   */
  get<V>(
    scope: string,
    name: string,
    load: () => Promise<V>,
    until?: (value: V) => number,
  ): Promise<V> {
    const hit = this.peek<V>(scope, name);
    if (hit !== undefined) return Promise.resolve(hit);
    const s = this.scopeOf(scope);
    const shared = s.pending.get(name) as Promise<V> | undefined;
    if (shared) return shared.catch(() => this.load(scope, name, load, until));
    return this.load(scope, name, load, until);
  }

  /** Drops one scope's entries (its configuration changed). */
  drop(scope: string): void {
    const s = this.scopes.get(scope);
    if (!s) return;
    s.generation++;
    s.entries.clear();
    s.pending.clear();
  }

  /** Drops every entry (changes may have been missed). */
  dropAll(): void {
    this.epoch++;
    for (const s of this.scopes.values()) {
      s.generation++;
      s.pending.clear();
    }
    this.scopes.clear();
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

  private load<V>(
    scope: string,
    name: string,
    load: () => Promise<V>,
    until?: (value: V) => number,
  ): Promise<V> {
    const s = this.scopeOf(scope);
    const generation = s.generation;
    const epoch = this.epoch;
    const lookup = load().then((value) => {
      if (s.generation === generation && this.epoch === epoch) {
        this.keep(scope, s, name, value, until ? until(value) : Infinity);
      }
      return value;
    });
    s.pending.set(name, lookup);
    const forget = () => {
      if (s.pending.get(name) === lookup) s.pending.delete(name);
    };
    lookup.then(forget, forget);
    return lookup;
  }

  private keep(scope: string, s: Scope, name: string, value: unknown, until: number): void {
    const ttl = scope === API_KEYS_SCOPE ? this.options.authTtlMs : this.options.appTtlMs;
    if (ttl <= 0) return;
    if (s.entries.size >= this.maxEntries) s.entries.delete(s.entries.keys().next().value!);
    s.entries.set(name, { value, ttlUntil: Date.now() + ttl, until });
  }

  private scopeOf(scope: string): Scope {
    let s = this.scopes.get(scope);
    if (!s) {
      if (this.scopes.size >= this.maxEntries) {
        const oldest = this.scopes.keys().next().value!;
        // A load still running for the evicted scope must not keep its value.
        this.scopes.get(oldest)!.generation++;
        this.scopes.delete(oldest);
      }
      s = { entries: new Map(), generation: 0, pending: new Map() };
      this.scopes.set(scope, s);
    }
    return s;
  }
}
