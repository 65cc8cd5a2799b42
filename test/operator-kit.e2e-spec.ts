// The operator's kit (Dockerfile, compose.yaml, ops/prometheus-alerts.yml), checked without a
// Docker engine: what the files say is held against the code and a running service. The image
// itself is not built here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { AppConfig, configKeys } from '../src/config/app-config.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { CALLBACK_JOB } from '../src/callbacks/callback-payload.js';
import { JobQueueRepository } from '../src/jobs/job-queue.repository.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { SINCH_REPLY } from '../src/replies/reply-payload.js';
import { inboundText } from './sinch-payloads.js';
import { Api, freePort, newApp, randomPhone, startTestApp, TestApp, until } from './utils.js';

/** One Dockerfile instruction: its keyword (upper case) and arguments (continuations joined). */
interface Instruction {
  keyword: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[][] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const stages: Instruction[][] = [];
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    const instruction = { keyword: m[1]!.toUpperCase(), args: m[2]! };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

/** `ENV A=1 B=2` (or the legacy `ENV A 1`) as pairs. */
function envPairs(args: string): [string, string][] {
  if (!args.includes('=')) {
    const [key, ...rest] = args.split(/\s+/);
    return [[key!, rest.join(' ')]];
  }
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map((m) => [
    m[1]!,
    m[2]!.replace(/^"|"$/g, ''),
  ]);
}

const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const runtime = stages.at(-1)!;
const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);
const last = (stage: Instruction[], keyword: string) => all(stage, keyword).at(-1);
const runtimeEnv = new Map(all(runtime, 'ENV').flatMap((i) => envPairs(i.args)));
const healthcheck = JSON.parse(
  last(runtime, 'HEALTHCHECK')!.args.replace(/^(--\S+\s+)*CMD\s+/, ''),
) as string[];

/** The variables .env.example names (the documented configuration). */
const documented = new Set(
  [...readFileSync('.env.example', 'utf8').matchAll(/^(?:#\s*)?([A-Z][A-Z0-9_]*)=/gm)].map(
    (m) => m[1]!,
  ),
);

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown };
  volumes?: string[];
  stop_grace_period?: string;
}
const compose = load(readFileSync('compose.yaml', 'utf8')) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};

/** Runs the image's HEALTHCHECK command as Docker would (exec form), with PORT set. */
function runHealthcheck(port: number): Promise<number | null> {
  const [cmd, ...args] = healthcheck;
  expect(cmd).toBe('node');
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: 'ignore',
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('Dockerfile', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('builds in a stage of its own on node:20: npm install (the lock file versions), npm run build, dev dependencies pruned', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]!.args).toMatch(/^node:20(\b|-)/);
    const build = stages[0]!.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(build.some((r) => /\bnpm install\b/.test(r))).toBe(true);
    expect(build.some((r) => /\bnpm ci\b/.test(r))).toBe(false);
    expect(build.some((r) => /npm run build/.test(r) && /npm prune --omit=dev/.test(r))).toBe(true);
    // The runtime stage takes the build output, never the build context's own node_modules.
    const copies = all(runtime, 'COPY').map((i) => i.args);
    expect(copies.every((c) => c.startsWith('--from='))).toBe(true);
  });

  it('every package dist/ imports is a production dependency (what npm prune --omit=dev keeps)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const files = readdirSync('dist', { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.js'),
    );
    expect(files).toContain(join('src', 'main.js'));
    const imported = new Set<string>();
    for (const file of files) {
      const text = readFileSync(join('dist', file), 'utf8');
      const specifiers = [
        ...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"];/gm),
        ...text.matchAll(/^import\s*['"]([^'"]+)['"];/gm),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((m) => m[1]!);
      for (const spec of specifiers) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        imported.add(
          spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!,
        );
      }
    }
    expect(imported.size).toBeGreaterThan(5);
    const missing = [...imported].filter(
      (p) => !(p in pkg.dependencies) && !builtinModules.includes(p),
    );
    expect(missing).toEqual([]);
  });

  it('CMD is node on the file `npm run build` makes (it exists now, after the build)', () => {
    const cmd = JSON.parse(last(runtime, 'CMD')!.args) as string[];
    // The same node flags as `npm start` (the heap limit: README, Operations).
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(cmd.join(' ')).toBe(pkg.scripts.start);
    expect(cmd).toContain('--max-old-space-size=512');
    expect(cmd).toContain('--max-semi-space-size=32');
    expect(cmd[cmd.length - 1]).toBe('dist/src/main.js');
    expect(existsSync(cmd[cmd.length - 1]!)).toBe(true);
    const workdir = last(runtime, 'WORKDIR')!.args;
    expect(all(runtime, 'COPY').some((c) => c.args.endsWith(`${workdir}/dist ./dist`))).toBe(true);
    // package.json makes dist/ ES modules ("type": "module"): it must be there too.
    expect(all(runtime, 'COPY').some((c) => /\/package\.json\b/.test(c.args))).toBe(true);
  });

  it('runs as a user that is not root', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it("VOLUME is the image's DATA_DIR, and every ENV is a configuration variable", () => {
    const dataDir = runtimeEnv.get('DATA_DIR');
    expect(dataDir).toBeDefined();
    expect(dataDir).not.toBe(new AppConfig().DATA_DIR);
    const volumes = all(runtime, 'VOLUME').flatMap((i) =>
      i.args.startsWith('[') ? (JSON.parse(i.args) as string[]) : i.args.split(/\s+/),
    );
    expect(volumes).toEqual([dataDir]);
    for (const stage of stages) {
      for (const [key] of all(stage, 'ENV').flatMap((i) => envPairs(i.args))) {
        expect({ key, known: documented.has(key) && configKeys().includes(key) }).toEqual({
          key,
          known: true,
        });
      }
    }
  });

  it('EXPOSEs the port the service listens on in the image (PORT)', () => {
    const port = runtimeEnv.get('PORT') ?? String(new AppConfig().PORT);
    expect(last(runtime, 'EXPOSE')!.args.split(/\s+/)).toEqual([port]);
  });

  it('HEALTHCHECK: its command exits 0 against a running service (/health/live answers 200), 1 when nothing listens', async () => {
    expect(healthcheck.join(' ')).toContain('/health/live');
    const port = Number(new URL(t.baseUrl).port);
    expect((await fetch(`${t.baseUrl}/health/live`)).status).toBe(200);
    expect(await runHealthcheck(port)).toBe(0);
    expect(await runHealthcheck(await freePort())).toBe(1);
  });

  it('.dockerignore keeps secrets, local data and build output out of the context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['.env', 'node_modules', 'dist', 'data', '.git']) {
      expect(ignored).toContain(entry);
    }
  });
});

describe('compose.yaml', () => {
  const services = compose.services;
  const [, app] = Object.entries(services).find(([, s]) => s.build !== undefined)!;
  const [pgName, pg] = Object.entries(services).find(([, s]) =>
    /^postgres:16\b/.test(s.image ?? ''),
  )!;

  it("sets only configuration variables on the service, and DATABASE_URL's host is the postgres service", () => {
    const env = app.environment ?? {};
    for (const key of Object.keys(env)) {
      expect({ key, known: documented.has(key) && configKeys().includes(key) }).toEqual({
        key,
        known: true,
      });
    }
    // ${...} are compose's interpolations (the password).
    const url = new URL(String(env.DATABASE_URL).replace(/\$\{[^}]*\}/g, 'x'));
    expect(url.protocol).toBe('postgres:');
    expect(url.hostname).toBe(pgName);
    expect(url.pathname).toBe(`/${String(pg.environment?.POSTGRES_DB)}`);
    expect(decodeURIComponent(url.username)).toBe(String(pg.environment?.POSTGRES_USER));
  });

  it('starts the service once PostgreSQL is healthy; named volumes for both, DATA_DIR among them', () => {
    expect(app.depends_on?.[pgName]?.condition).toBe('service_healthy');
    expect(pg.healthcheck?.test).toBeDefined();
    const named = Object.keys(compose.volumes ?? {});
    const mounts = (s: ComposeService) => (s.volumes ?? []).map((v) => v.split(':'));
    for (const s of [app, pg]) {
      expect(mounts(s).length).toBeGreaterThan(0);
      for (const [source] of mounts(s)) expect(named).toContain(source);
    }
    expect(mounts(app).map(([, target]) => target)).toContain(runtimeEnv.get('DATA_DIR'));
  });

  it('gives the graceful shutdown its time: stop_grace_period above SHUTDOWN_TIMEOUT_MS', () => {
    const timeoutMs = Number(
      app.environment?.SHUTDOWN_TIMEOUT_MS ?? new AppConfig().SHUTDOWN_TIMEOUT_MS,
    );
    const grace = /^(\d+)s$/.exec(app.stop_grace_period ?? '');
    expect(grace).not.toBeNull();
    expect(Number(grace![1]) * 1000).toBeGreaterThan(timeoutMs);
  });

  it('publishes the port the image EXPOSEs', () => {
    const exposed = last(runtime, 'EXPOSE')!.args;
    const ports = ((app as { ports?: string[] }).ports ?? []).map((p) =>
      String(p).split(':').at(-1),
    );
    expect(ports).toContain(exposed);
  });
});

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'absent',
  'absent_over_time',
  'changes',
  'resets',
  'histogram_quantile',
  'clamp_min',
  'clamp_max',
  'abs',
  'time',
  'vector',
  'scalar',
  'sum_over_time',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'count_over_time',
]);

/** Metrics Prometheus itself adds to every target. */
const SCRAPE_METRICS = new Set(['up']);

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

/** The metric selectors of a PromQL expression, and the labels it groups by. */
function selectorsOf(expr: string): { selectors: Selector[]; groupBy: string[] } {
  const selectors: Selector[] = [];
  const groupBy: string[] = [];
  let rest = expr.replace(/\b(by|without|on|ignoring)\s*\(([^)]*)\)/g, (_m, _w, labels: string) => {
    groupBy.push(
      ...labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
    return ' ';
  });
  rest = rest.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^}]*)\}/g,
    (_m, metric: string | undefined, body: string) => {
      const matchers = [
        ...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g),
      ].map((m) => ({ label: m[1]!, op: m[2]!, value: m[3]! }));
      selectors.push({ metric: metric ?? '', matchers });
      return ' ';
    },
  );
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/"[^"]*"/g, ' ');
  for (const word of rest.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []) {
    if (!PROMQL_WORDS.has(word)) selectors.push({ metric: word, matchers: [] });
  }
  return { selectors, groupBy };
}

describe('ops/prometheus-alerts.yml', () => {
  let t: TestApp;
  let exposition = '';
  const rules = (
    load(readFileSync('ops/prometheus-alerts.yml', 'utf8')) as {
      groups: { name: string; rules: { alert: string; expr: string }[] }[];
    }
  ).groups.flatMap((g) => g.rules);

  beforeAll(async () => {
    t = await startTestApp();
    const res = await fetch(`${t.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    exposition = await res.text();
  });
  afterAll(() => t?.close());

  /** The label sets of a metric's samples in the live exposition. */
  const samplesOf = (metric: string): Record<string, string>[] =>
    exposition
      .split('\n')
      .filter((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `))
      .map((l) => {
        const body = /\{([^}]*)\}/.exec(l)?.[1] ?? '';
        return Object.fromEntries(
          [...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
        );
      });

  it('has the alerts for replies FAILED, callbacks GAVE_UP and webhook rejections', () => {
    const exprs = rules.map((r) => r.expr).join('\n');
    expect(exprs).toMatch(/consent_gate_replies_total\{outcome="FAILED"\}/);
    expect(exprs).toMatch(/consent_gate_callback_deliveries_total\{outcome="GAVE_UP"\}/);
    expect(exprs).toMatch(/consent_gate_webhook_rejections_total\{/);
  });

  it('the alerted counters count: a reply FAILED, a callback GAVE_UP, webhooks refused', async () => {
    const value = async (series: string): Promise<number> => {
      const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return Number(line?.split(' ')[1] ?? NaN);
    };
    const series = {
      replyFailed: 'consent_gate_replies_total{outcome="FAILED"}',
      gaveUp: 'consent_gate_callback_deliveries_total{outcome="GAVE_UP"}',
      unknownApp: 'consent_gate_webhook_rejections_total{reason="UNKNOWN_APP"}',
      malformed: 'consent_gate_webhook_rejections_total{reason="MALFORMED"}',
    };
    const before = Object.fromEntries(
      await Promise.all(Object.entries(series).map(async ([k, v]) => [k, await value(v)])),
    ) as Record<keyof typeof series, number>;

    // Webhooks: one for an app with no settings, one that is not a Sinch callback.
    const unknown = newApp();
    const post = (body: string) =>
      fetch(`${t.baseUrl}/webhooks/sinch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    expect(
      (await post(JSON.stringify(inboundText(unknown.projectId, unknown.appId, 'STOP')))).status,
    ).toBe(404);
    // JSON, but not a Sinch callback (a body that is not JSON is the parser's 400, not counted).
    expect((await post(JSON.stringify({ app_id: 'x', project_id: 'y', hello: {} }))).status).toBe(
      400,
    );

    // A reply job the worker cannot send (an invalid payload): FAILED.
    const a = newApp();
    await t.app.get(DataSource).transaction((tx) =>
      t.app.get(JobQueueRepository).enqueue(tx, {
        kind: SINCH_REPLY,
        projectId: a.projectId,
        appId: a.appId,
        payload: { channel: 'SMS' },
        giveUpAfterS: 60,
      }),
    );
    await t.app.get(JobRunner).runOnce(SINCH_REPLY);

    // A callback whose target answers 400: GAVE_UP at once.
    const target = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(400).end());
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    try {
      const api = new Api(t.baseUrl);
      const sub = await api.post(`${a.base}/callbacks`, {
        target_url: `http://127.0.0.1:${(target.address() as AddressInfo).port}/hook`,
        secret: 'callback-signing-secret-0123',
        triggers: ['OPT_OUT'],
      });
      expect(sub.status).toBe(201);
      expect(
        (await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`)).status,
      ).toBe(200);
      await until(
        'the callback given up',
        async () => {
          await t.app.get(JobRunner).runOnce(CALLBACK_JOB);
          return value(series.gaveUp);
        },
        (n) => n >= before.gaveUp + 1,
      );
    } finally {
      target.closeAllConnections();
      await new Promise<void>((r) => target.close(() => r()));
    }

    expect(await value(series.unknownApp)).toBe(before.unknownApp + 1);
    expect(await value(series.malformed)).toBe(before.malformed + 1);
    expect(await value(series.replyFailed)).toBeGreaterThanOrEqual(before.replyFailed + 1);
    expect(await value(series.gaveUp)).toBeGreaterThanOrEqual(before.gaveUp + 1);
  });

  it("uses only metrics the live service exposes, with label values among its samples'", () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const { selectors, groupBy } = selectorsOf(rule.expr);
      expect({ alert: rule.alert, selectors: selectors.length > 0 }).toEqual({
        alert: rule.alert,
        selectors: true,
      });
      const ours = selectors.filter((s) => !SCRAPE_METRICS.has(s.metric));
      for (const { metric, matchers } of ours) {
        const samples = samplesOf(metric);
        expect({
          alert: rule.alert,
          metric,
          exposed: exposition.includes(`# TYPE ${metric} `),
        }).toEqual({
          alert: rule.alert,
          metric,
          exposed: true,
        });
        for (const { label, op, value } of matchers) {
          const present = new Set(samples.flatMap((s) => (label in s ? [s[label]!] : [])));
          const wanted = op === '=~' ? value.split('|') : [value];
          for (const v of wanted) {
            expect({ alert: rule.alert, metric, label, value: v, present: present.has(v) }).toEqual(
              {
                alert: rule.alert,
                metric,
                label,
                value: v,
                present: true,
              },
            );
          }
        }
      }
      for (const label of groupBy) {
        const labelled = ours.some(({ metric }) => samplesOf(metric).some((s) => label in s));
        expect({ alert: rule.alert, label, labelled }).toEqual({
          alert: rule.alert,
          label,
          labelled: true,
        });
      }
    }
  });
});
