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

describe('ConfigStore', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('keeps a loaded value and shares one load between concurrent callers', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    const d = deferred<string>();
    const both = Promise.all([store.get(A, 'x', d.load), store.get(A, 'x', d.load)]);
    expect(store.peek(A, 'x')).toBeUndefined();
    d.resolve('one');
    expect(await both).toEqual(['one', 'one']);
    expect(d.calls.n).toBe(1);
    expect(store.peek(A, 'x')).toBe('one');
    expect(await store.get(A, 'x', () => Promise.resolve('two'))).toBe('one');
  });

  it('drops one scope, and all of them', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    await store.get(A, 'x', async () => 1);
    await store.get(A, 'y', async () => 2);
    await store.get(B, 'x', async () => 3);
    await store.get(API_KEYS_SCOPE, 'token', async () => null);
    store.drop(A);
    expect([store.peek(A, 'x'), store.peek(A, 'y'), store.peek(B, 'x')]).toEqual([
      undefined,
      undefined,
      3,
    ]);
    expect(store.peek(API_KEYS_SCOPE, 'token')).toBeNull();
    store.dropAll();
    expect([store.peek(B, 'x'), store.peek(API_KEYS_SCOPE, 'token')]).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('returns but does not keep what a load read before its scope was dropped', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    const before = deferred<string>();
    const first = store.get(A, 'x', before.load);
    store.drop(A);
    const after = deferred<string>();
    const second = store.get(A, 'x', after.load);
    expect(after.calls.n).toBe(1);
    before.resolve('old');
    after.resolve('new');
    expect(await first).toBe('old');
    expect(await second).toBe('new');
    expect(store.peek(A, 'x')).toBe('new');

    const late = deferred<string>();
    const third = store.get(B, 'x', late.load);
    store.dropAll();
    late.resolve('stale');
    expect(await third).toBe('stale');
    expect(store.peek(B, 'x')).toBeUndefined();
  });

  it('a caller that joined a failed load loads for itself', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    const failing = deferred<string>();
    const first = store.get(A, 'x', failing.load);
    const second = store.get(A, 'x', async () => 'mine');
    failing.reject(new Error('transaction aborted'));
    await expect(first).rejects.toThrow('transaction aborted');
    expect(await second).toBe('mine');
    expect(store.peek(A, 'x')).toBe('mine');
  });

  it('not listening: entries expire after their TTL (apps and API keys each their own)', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 5000 });
    clockAt(10_000);
    await store.get(A, 'x', async () => 'v');
    await store.get(API_KEYS_SCOPE, 't', async () => 'k');
    clockAt(10_999);
    expect(store.peek(A, 'x')).toBe('v');
    clockAt(11_000);
    expect(store.peek(A, 'x')).toBeUndefined();
    expect(store.peek(API_KEYS_SCOPE, 't')).toBe('k');
    clockAt(15_000);
    expect(store.peek(API_KEYS_SCOPE, 't')).toBeUndefined();
  });

  it('listening: entries outlive the TTL but not their own deadline', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    store.setListening(true);
    clockAt(10_000);
    await store.get(A, 'x', async () => 'v');
    await store.get(
      API_KEYS_SCOPE,
      'jwt',
      async () => 'p',
      () => 12_000,
    );
    clockAt(11_999);
    expect([store.peek(A, 'x'), store.peek(API_KEYS_SCOPE, 'jwt')]).toEqual(['v', 'p']);
    clockAt(12_000);
    expect([store.peek(A, 'x'), store.peek(API_KEYS_SCOPE, 'jwt')]).toEqual(['v', undefined]);
  });

  it('drops everything when the listener goes down and when it comes back', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000 });
    await store.get(A, 'x', async () => 'cached while down');
    store.setListening(true);
    expect(store.listening).toBe(true);
    expect(store.peek(A, 'x')).toBeUndefined();
    await store.get(A, 'x', async () => 'cached while up');
    store.setListening(false);
    expect(store.peek(A, 'x')).toBeUndefined();
  });

  it('a TTL of 0 keeps nothing', async () => {
    const store = new ConfigStore({ appTtlMs: 0, authTtlMs: 1000 });
    store.setListening(true);
    await store.get(A, 'x', async () => 'v');
    await store.get(API_KEYS_SCOPE, 't', async () => 'k');
    expect(store.peek(A, 'x')).toBeUndefined();
    expect(store.peek(API_KEYS_SCOPE, 't')).toBe('k');
  });

  it('is bounded: the oldest scope and the oldest entry of a scope go first', async () => {
    const store = new ConfigStore({ appTtlMs: 1000, authTtlMs: 1000, maxEntries: 2 });
    for (const name of ['a', 'b', 'c']) await store.get(API_KEYS_SCOPE, name, async () => name);
    expect(['a', 'b', 'c'].map((n) => store.peek(API_KEYS_SCOPE, n))).toEqual([
      undefined,
      'b',
      'c',
    ]);
    await store.get(A, 'x', async () => 1);
    await store.get(B, 'x', async () => 2);
    expect(store.peek(API_KEYS_SCOPE, 'b')).toBeUndefined();
    expect([store.peek(A, 'x'), store.peek(B, 'x')]).toEqual([1, 2]);
  });
});
