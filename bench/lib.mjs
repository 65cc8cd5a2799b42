// Small helpers for the bench scripts: their lifecycle (benchRun), child processes, ports, load runs, statistics, table printing.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import autocannon from 'autocannon';
import pg from 'pg';

/** A free TCP port on 127.0.0.1 (asked from the OS, then released for the child to bind). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts `node <script>` as a child process with extra env. Its output is kept (last 200
 * lines) to be shown when something goes wrong, not echoed. Returns a handle with stop().
 */
export function startNode(name, script, env, { cwd, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > 200) tail.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  return {
    name,
    child,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    logTail: (n = 40) => tail.slice(-n).join('\n'),
    /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
    async stop(graceMs = 5000) {
      if (!this.running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls GET `url` until it answers 200; fails early if `proc` exits, or after `timeoutMs`. */
export async function waitForHealthy(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (!proc.running) {
      throw new Error(
        `${proc.name} exited before becoming healthy. Its last output:\n${proc.logTail()}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${proc.name} not healthy at ${url} after ${timeoutMs} ms (${last}). Its last output:\n${proc.logTail()}`,
  );
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere.
 * Used to report server CPU per request, which is steadier than req/s on a shared machine.
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** The autocannon instance under way, so that SIGINT can stop it. */
let current = null;
export const stopLoad = () => current?.stop();

/**
 * One autocannon run of POST requests, the body made per request by makeBody() (drawn anew for
 * each request, so responses cannot be served from any cache keyed on the body).
 * Instead of makeBody, a load may pass autocannon's own setupRequest(req, context) (to set
 * per-request headers too) and onResponse(status, body, context); afterRun() is then called when
 * the run is over and returns an error text (the run fails) or null.
 * `pid` is the server whose CPU per request is reported (cpuUsPerReq); `otherPids` ({ name: pid })
 * are other processes whose CPU per request is reported too (otherCpuUsPerReq.name).
 * Returns the figures we report; throws on any error, timeout or non-2xx answer.
 */
export async function runLoad({
  label,
  url,
  headers,
  connections,
  durationS,
  makeBody,
  setupRequest,
  onResponse,
  afterRun,
  pid,
  otherPids = {},
}) {
  const cpuBefore = pid ? cpuSeconds(pid) : null;
  const otherBefore = Object.fromEntries(
    Object.entries(otherPids).map(([name, p]) => [name, cpuSeconds(p)]),
  );
  const instance = autocannon({
    url,
    connections,
    pipelining: 1,
    duration: durationS,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest:
          setupRequest ??
          ((req) => {
            req.body = makeBody();
            return req;
          }),
        ...(onResponse ? { onResponse } : {}),
      },
    ],
  });
  current = instance;
  let result;
  try {
    result = await instance;
  } finally {
    current = null;
  }
  const cpuAfter = pid ? cpuSeconds(pid) : null;
  const otherCpuUsPerReq = Object.fromEntries(
    Object.entries(otherPids).map(([name, p]) => {
      const after = cpuSeconds(p);
      const before = otherBefore[name];
      return [
        name,
        before !== null && after !== null && result.requests.total > 0
          ? ((after - before) * 1e6) / result.requests.total
          : null,
      ];
    }),
  );
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) {
    const codes = JSON.stringify(result.statusCodeStats);
    throw new Error(
      `${label}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `out of ${result.requests.total} requests (status codes ${codes}). The bench is invalid.`,
    );
  }
  const wrong = afterRun ? afterRun() : null;
  if (wrong) throw new Error(`${label}: ${wrong}. The bench is invalid.`);
  if (result.requests.total === 0) throw new Error(`${label}: no request completed`);
  return {
    requests: result.requests.total,
    durationS: result.duration,
    // Completed requests over the measured time (steadier than the mean of 1 s buckets when a
    // run completes only a few requests per second, as the batch check does).
    rps: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    // Server process CPU per completed request (µs), and its average CPU use (1 = one core busy).
    cpuUsPerReq:
      cpuBefore !== null && cpuAfter !== null
        ? ((cpuAfter - cpuBefore) * 1e6) / result.requests.total
        : null,
    cpuCores:
      cpuBefore !== null && cpuAfter !== null ? (cpuAfter - cpuBefore) / result.duration : null,
    ...(Object.keys(otherPids).length > 0 ? { otherCpuUsPerReq } : {}),
  };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Prints rows (arrays of cells) as an aligned table with a header line. */
export function printTable(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(all[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of all.slice(1)) console.log(line(r));
}

export const fmt = {
  int: (n) => Math.round(n).toLocaleString('en-US'),
  // autocannon records latencies in whole milliseconds; medians of them may end in .5.
  ms: (n) => `${Number.isInteger(n) ? n : n.toFixed(1)} ms`,
  us: (n) =>
    n === null ? 'n/a' : n >= 10_000 ? `${(n / 1000).toFixed(1)} ms` : `${Math.round(n)} µs`,
  ratio: (n) => n.toFixed(2),
};

/** An integer from the environment (>= min), or `fallback` when unset; exits 2 on a bad value. */
export function intEnv(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer >= ${min}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

/** A seeded PRNG (mulberry32): the same data every run. Numbers in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A process's resident set size in kB (Linux /proc), NaN when it cannot be read. */
/** CPU seconds (user + system) a process has used so far, from /proc (NaN when gone). */
export function cpuS(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds used so far by every PostgreSQL server process on this machine (backends,
 * checkpointer, WAL writer...): the database's side of a run, when its server is local. A backend
 * that exits takes its time with it, so compare two readings over a span where the service's
 * connections stay open.
 */
export function postgresCpuS() {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const s = cpuS(entry);
    if (!Number.isNaN(s)) total += s;
  }
  return total;
}

export function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The lifecycle every bench script shares: what it started (child processes in `state.children`,
 * files in `state.files`) and the database it made (`createDatabase`) are stopped, removed and
 * dropped exactly once by `cleanup()`, from the script's finally block, on SIGINT/SIGTERM, or when
 * `timeoutS` (BENCH_TIMEOUT_S) runs out; `onAbort` runs first on those (e.g. stopLoad).
 */
export function benchRun({ baseDbUrl, timeoutS, log = console.log, onAbort = () => {} }) {
  const state = { children: [], files: [], dbName: null };
  let cleanupPromise = null;
  const cleanup = () =>
    (cleanupPromise ??= (async () => {
      await Promise.all(state.children.map((c) => c.stop().catch(() => {})));
      for (const f of state.files) rmSync(f, { force: true });
      if (state.dbName) {
        const admin = new pg.Client({ connectionString: baseDbUrl });
        try {
          await admin.connect();
          await admin.query(`DROP DATABASE IF EXISTS "${state.dbName}" WITH (FORCE)`);
          log(`dropped database ${state.dbName}`);
        } catch (e) {
          console.error(`could not drop database ${state.dbName}: ${e.message}`);
        } finally {
          await admin.end().catch(() => {});
        }
      }
    })());
  const abort = async (reason, code) => {
    console.error(`\n${reason}: stopping the service and dropping the bench database...`);
    onAbort();
    await cleanup();
    process.exit(code);
  };
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  setTimeout(
    () => abort(`time limit of ${timeoutS} s reached (BENCH_TIMEOUT_S)`, 1),
    timeoutS * 1000,
  ).unref();
  /** A fresh database `consent_gate_<prefix>_<timestamp>_<pid>` on baseDbUrl's server. */
  const createDatabase = async (prefix) => {
    const name = `consent_gate_${prefix}_${Date.now()}_${process.pid}`;
    const admin = new pg.Client({ connectionString: baseDbUrl });
    await admin.connect();
    try {
      state.dbName = name; // first: an interrupt during CREATE still drops it (IF EXISTS)
      await admin.query(`CREATE DATABASE "${name}"`);
      const { rows } = await admin.query('SHOW server_version');
      const url = new URL(baseDbUrl);
      url.pathname = `/${name}`;
      return { name, url: url.toString(), serverVersion: rows[0].server_version };
    } finally {
      await admin.end();
    }
  };
  return { state, cleanup, createDatabase };
}

/**
 * Boots the built service (dist/src/main.js under `root`) as a child process on 127.0.0.1 and a
 * free port, against `dbUrl`, with LOG_LEVEL=warn, the admin key and `env` on top; registers it
 * in `state.children` (stopped by benchRun's cleanup) and waits for GET /health.
 * Returns the process handle (startNode's) and the base URL.
 */
export async function startService({
  root,
  state,
  dbUrl,
  adminApiKey,
  env = {},
  nodeArgs = [],
  healthTimeoutMs = 60_000,
}) {
  const port = await freePort();
  // The node flags of `npm start` (the heap limit, README: Operations), then the caller's.
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
  const startFlags = pkg.scripts.start.split(/\s+/).filter((w) => w.startsWith('--'));
  const proc = startNode(
    'service',
    `${root}/dist/src/main.js`,
    {
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: adminApiKey,
      LOG_LEVEL: 'warn',
      ...env,
    },
    { cwd: root, nodeArgs: [...startFlags, ...nodeArgs] },
  );
  state.children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${base}/health`, proc, healthTimeoutMs);
  return { proc, base };
}
