import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { API_KEYS_SCOPE, appScope, ConfigStore } from './config-store.js';

const A = appScope({ projectId: 'p', appId: 'a' });
const B = appScope({ projectId: 'p', appId: 'b' });

/** A load the test resolves (or rejects) when it wants, counting its calls. */
function deferred<V>() {
  let resolve!: (v: V) => void;
  let reject!: (e: Error) => void;
  const calls = { n: 0 };
  const promise = new Promise<V>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const load = () => {
    calls.n++;
    return promise;
  };
  return { load, resolve, reject, calls };
}

function clockAt(ms: number) {
  return jest.spyOn(Date, 'now').mockReturnValue(ms);
}

function storeWith(options: { appTtlMs?: number; authTtlMs?: number; maxEntries?: number } = {}) {
  const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000, ...options });
  return {
    store,
    settings: store.namespace<string>('settings', 'app'),
    matcher: store.namespace<string>('matcher', 'app'),
    tokens: store.namespace<string | null>('tokens', 'auth'),
  };
}

describe('ConfigStore', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('keeps a loaded value and shares one load between concurrent callers', async () => {
    const { settings } = storeWith();
    const d = deferred<string>();
    const both = Promise.all([settings.get(A, d.load), settings.get(A, d.load)]);
    expect(settings.peek(A)).toBeUndefined();
    d.resolve('one');
    expect(await both).toEqual(['one', 'one']);
    expect(d.calls.n).toBe(1);
    expect(settings.peek(A)).toBe('one');
    expect(await settings.get(A, () => Promise.resolve('two'))).toBe('one');
  });

  it("drops an app's entries from every app namespace, the API keys from theirs", async () => {
    const { store, settings, matcher, tokens } = storeWith();
    await settings.get(A, async () => 'settings of a');
    await matcher.get(A, async () => 'matcher of a');
    await settings.get(B, async () => 'settings of b');
    await tokens.get(A, async () => 'a token that looks like a scope');
    await tokens.get('t', async () => null);
    store.drop(A);
    expect([settings.peek(A), matcher.peek(A), settings.peek(B)]).toEqual([
      undefined,
      undefined,
      'settings of b',
    ]);
    expect([tokens.peek(A), tokens.peek('t')]).toEqual(['a token that looks like a scope', null]);
    store.drop(API_KEYS_SCOPE);
    expect([tokens.peek(A), tokens.peek('t'), settings.peek(B)]).toEqual([
      undefined,
      undefined,
      'settings of b',
    ]);
    store.dropAll();
    expect(settings.peek(B)).toBeUndefined();
  });

  it('returns but does not keep what a load read before a drop', async () => {
    const { store, settings } = storeWith();
    const before = deferred<string>();
    const first = settings.get(A, before.load);
    store.drop(A);
    const after = deferred<string>();
    const second = settings.get(A, after.load);
    expect(after.calls.n).toBe(1);
    before.resolve('old');
    after.resolve('new');
    expect(await first).toBe('old');
    expect(await second).toBe('new');
    expect(settings.peek(A)).toBe('new');

    const late = deferred<string>();
    const third = settings.get(B, late.load);
    store.dropAll();
    late.resolve('stale');
    expect(await third).toBe('stale');
    expect(settings.peek(B)).toBeUndefined();
  });

  it('a caller that joined a failed load loads for itself', async () => {
    const { settings } = storeWith();
    const failing = deferred<string>();
    const first = settings.get(A, failing.load);
    const second = settings.get(A, async () => 'mine');
    failing.reject(new Error('transaction aborted'));
    await expect(first).rejects.toThrow('transaction aborted');
    expect(await second).toBe('mine');
    expect(settings.peek(A)).toBe('mine');
  });

  it('not listening: entries expire after their TTL (apps and API keys each their own)', async () => {
    const { settings, tokens } = storeWith({ appTtlMs: 1000, authTtlMs: 5000 });
    clockAt(10_000);
    await settings.get(A, async () => 'v');
    await tokens.get('t', async () => 'k');
    clockAt(10_999);
    expect(settings.peek(A)).toBe('v');
    clockAt(11_000);
    expect(settings.peek(A)).toBeUndefined();
    expect(tokens.peek('t')).toBe('k');
    clockAt(15_000);
    expect(tokens.peek('t')).toBeUndefined();
  });

  it('listening: entries outlive the TTL but not their own deadline', async () => {
    const { store, settings, tokens } = storeWith();
    store.setListening(true);
    clockAt(10_000);
    await settings.get(A, async () => 'v');
    await tokens.get(
      'jwt',
      async () => 'p',
      () => 12_000,
    );
    clockAt(11_999);
    expect([settings.peek(A), tokens.peek('jwt')]).toEqual(['v', 'p']);
    clockAt(12_000);
    expect([settings.peek(A), tokens.peek('jwt')]).toEqual(['v', undefined]);
  });

  it('drops everything when the listener comes up and when it goes down', async () => {
    const { store, settings } = storeWith();
    await settings.get(A, async () => 'cached while down');
    store.setListening(true);
    expect(store.listening).toBe(true);
    expect(settings.peek(A)).toBeUndefined();
    await settings.get(A, async () => 'cached while up');
    store.setListening(false);
    expect(settings.peek(A)).toBeUndefined();
  });

  it('a TTL of 0 keeps nothing in that kind of namespace', async () => {
    const { store, settings, tokens } = storeWith({ appTtlMs: 0 });
    store.setListening(true);
    await settings.get(A, async () => 'v');
    await tokens.get('t', async () => 'k');
    expect(settings.peek(A)).toBeUndefined();
    expect(tokens.peek('t')).toBe('k');
  });

  it('is bounded per namespace, the oldest entry first; a name is taken once', async () => {
    const { store, tokens, settings } = storeWith({ maxEntries: 2 });
    for (const t of ['a', 'b', 'c']) await tokens.get(t, async () => t);
    await settings.get(A, async () => 'v');
    expect(['a', 'b', 'c'].map((t) => tokens.peek(t))).toEqual([undefined, 'b', 'c']);
    expect(settings.peek(A)).toBe('v');
    expect(() => store.namespace('tokens', 'auth')).toThrow('exists');
  });
});
