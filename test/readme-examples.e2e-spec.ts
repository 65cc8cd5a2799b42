import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeSinch } from './fake-sinch.js';
import {
  Block,
  Command,
  commandsOf,
  compareOutput,
  fencedBlocks,
  isCurlBlock,
  readReadme,
  variablesOf,
} from './readme-examples.js';
import { freshPostgresDatabase, ServiceProcess, spawnService } from './utils.js';

// Docs that cannot drift: the README's curl examples, run in order as a reader runs them (one
// bash shell, the variables set as the README sets them) against a fresh service, and compared
// with the outputs the README shows. The conventions (what runs, `# ->`, `...`, `$NAME`, the
// skip marker) are in test/readme-examples.ts and in the README (*README examples are tested*).
//
// The reader's checkout is a temporary directory: `data/` is the fresh service's DATA_DIR (so
// `$(cat data/bootstrap-admin-key)` reads its bootstrap key, on PostgreSQL too), the files the
// examples write land there, and package.json, scripts/ and dist/ are links to this checkout
// (for `npm run verify-evidence`). The README's service is at http://localhost:3000; this one
// listens on a free port of 127.0.0.1, so that origin is replaced by its own in the commands,
// and nothing else is. `curl` is the real one behind a small wrapper that notes each answer's
// status (the output is untouched). Sinch is test/fake-sinch.ts.
const onPostgres = Boolean(process.env.DATABASE_URL);
const README = resolve('README.md');
const README_ORIGIN = 'http://localhost:3000';
// At least this much must run, so that the test cannot pass by running nothing (raise it as the
// README grows).
const MIN_BLOCKS = 10;
const MIN_CURLS = 30;
const RUN_TIMEOUT_MS = 60_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const CURL_WRAPPER = `#!/usr/bin/env bash
# readme-test: the real curl, noting the HTTP status of each answer (README line, status).
err=$(mktemp)
rc=0
"$README_TEST_CURL" "$@" -w '%{stderr}@@readme-test-status=%{http_code}' 2>"$err" || rc=$?
text=$(cat "$err")
rm -f "$err"
mark=@@readme-test-status=
if [[ "$text" == *"$mark"* ]]; then
  printf '%s %s\\n' "\${README_LINE:-?}" "\${text##*"$mark"}" >> "$README_TEST_STATUS"
  text=\${text%"$mark"*}
fi
if [ -n "$text" ]; then printf '%s\\n' "$text" >&2; fi
exit $rc
`;

/** A reader's checkout: a temporary directory with the links `npm run` needs, and the wrapper. */
function readerCheckout(): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'consent-gate-readme-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['package.json', 'scripts', 'dist', 'node_modules'])
    symlinkSync(resolve(f), join(dir, f));
  const bin = join(dir, '.readme-test-bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'curl'), CURL_WRAPPER);
  chmodSync(join(bin, 'curl'), 0o755);
  return { dir, bin };
}

/** The one bash script: each command after a marker naming its README line. */
function scriptOf(commands: Command[], baseUrl: string): string {
  const lines = [
    'set -eo pipefail',
    `__readme_at() { README_LINE=$1; export README_LINE; printf '\\036%s\\036' "$1"; printf '\\036%s\\036' "$1" >&2; }`,
    `__readme_var() { printf '%s\\037%s\\037%s\\036' "$README_LINE" "$1" "\${!1-}" >> "$README_TEST_VARS"; }`,
  ];
  for (const c of commands) {
    lines.push(`__readme_at ${c.line}`, c.text.split(README_ORIGIN).join(baseUrl));
    for (const name of variablesOf(c.expect?.text ?? '')) lines.push(`__readme_var ${name}`);
  }
  lines.push('__readme_at 0');
  return lines.join('\n') + '\n';
}

/** Output per README line, from a stream of `\x1e<line>\x1e<output>` records. */
function byLine(stream: string): Map<number, string> {
  const out = new Map<number, string>();
  const parts = stream.split('\x1e');
  for (let i = 1; i + 1 < parts.length; i += 2) out.set(Number(parts[i]), parts[i + 1] ?? '');
  return out;
}

function runBash(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  // A file, not stdin: a command that reads its input must not read the rest of the script.
  const file = join(cwd, '.readme-test-script.sh');
  writeFileSync(file, script);
  const child = spawn('bash', ['-e', '-o', 'pipefail', file], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    }),
  );
}

const firstLine = (text: string) => {
  const [head, ...rest] = text.split('\n');
  return rest.length ? `${head} ...` : head!;
};
const clip = (s: string, n = 1500) =>
  s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s;

describe(`the README's examples (${onPostgres ? 'PostgreSQL' : 'embedded'})`, () => {
  it('reads the blocks, the skip marker, commands over several lines and their shown outputs', () => {
    const md = [
      'Some text',
      '<!-- readme-test: skip (needs a container) -->',
      '```bash',
      'docker compose exec app curl -s localhost:3000/health',
      '```',
      '```sh',
      '# prose before a command',
      'A=$(curl -s -X POST x \\',
      '  -d \'{"k":"a # not a comment"}\')',
      'echo "$A"   # -> {"a":1}',
      "cat > f.csv <<'CSV'",
      'a,b',
      'CSV',
      'curl -s y',
      '# -> 201 {"b":',
      '#    2}',
      '# or else (prose, not checked):',
      '# {"b":3}',
      '```',
      '```bash',
      'npm start   # no curl here: not run',
      '```',
    ].join('\n');
    const blocks = fencedBlocks(md);
    expect(blocks.map((b) => [b.line, b.lang, b.skip, isCurlBlock(b)])).toEqual([
      [3, 'bash', 'needs a container', true],
      [6, 'sh', undefined, true],
      [20, 'bash', undefined, false],
    ]);
    expect(commandsOf(blocks[1]!)).toEqual([
      { line: 8, text: 'A=$(curl -s -X POST x \\\n  -d \'{"k":"a # not a comment"}\')' },
      { line: 10, text: 'echo "$A"   # -> {"a":1}', expect: { from: 10, to: 10, text: '{"a":1}' } },
      { line: 11, text: "cat > f.csv <<'CSV'\na,b\nCSV" },
      { line: 14, text: 'curl -s y', expect: { from: 15, to: 16, status: 201, text: '{"b":\n2}' } },
    ]);
    expect(() => fencedBlocks('<!-- readme-test: skip -->\n```bash\ncurl x\n```')).toThrow(
      'README.md:1: a readme-test skip marker needs a (reason)',
    );
  });

  it('the shown-output convention: "...", $NAME, objects showing some fields, text lines', () => {
    const vars = (n: string) => ({ ID: '01K9' })[n];
    expect(compareOutput('{"a":1,...}', '{"a":1,"b":2}', vars)).toBeNull();
    expect(compareOutput('{"a":"..."}', '{"a":{"x":1}}', vars)).toBeNull();
    expect(compareOutput('{"a":...}', '{"a":[1]}', vars)).toBeNull();
    expect(
      compareOutput('{"id":"$ID","t":"eyJ..."}', '{"id":"01K9","t":"eyJhb"}', vars),
    ).toBeNull();
    expect(compareOutput('{"id":"$ID"}', '{"id":"01K8"}', vars)).toContain('id: shown');
    expect(compareOutput('{"a":"BLOCK"}', '{"a":"ALLOW"}', vars)).toBe(
      'a: shown "BLOCK", got "ALLOW"',
    );
    expect(compareOutput('{"r":[{"d":1}]}', '{"r":[{"d":1},{"d":2}]}', vars)).toContain(
      'shown 1 element(s), got 2',
    );
    expect(compareOutput('{"r":[{"d":1},...]}', '{"r":[{"d":1},{"d":2}]}', vars)).toBeNull();
    expect(compareOutput('{"a":1}', '{"b":1}', vars)).toBe('a: shown, but not in the answer');
    expect(compareOutput('{"a":1}', 'not json', vars)).toContain('not one JSON value');
    expect(
      compareOutput('VERIFIED\n- record ... of\n3', 'x\nVERIFIED\n-  record 2 of 3\n', vars),
    ).toBeNull();
    expect(compareOutput('VERIFIED', 'FAILED\n', vars)).toBe('the shown text is not in the output');
  });

  it('run in order against a fresh service and answer what the README shows', async () => {
    const blocks = readReadme(README);
    const curlBlocks = blocks.filter(isCurlBlock);
    const run: Block[] = curlBlocks.filter((b) => !b.skip);
    const skipped = curlBlocks.filter((b) => b.skip);
    const commands = run.flatMap(commandsOf);

    // A fresh service, as `npm start` runs it, with nothing configured but its database.
    const { dir, bin } = readerCheckout();
    const fake = new FakeSinch();
    await fake.start();
    cleanups.push(() => fake.stop());
    const dataDir = join(dir, 'data');
    const db: Record<string, string | undefined> = { DATABASE_URL: undefined, DATA_DIR: dataDir };
    if (onPostgres) {
      const fresh = await freshPostgresDatabase('consent_gate_readme');
      cleanups.push(() => fresh.drop());
      db.DATABASE_URL = fresh.url;
    }
    const service: ServiceProcess = await spawnService({
      ...db,
      ADMIN_API_KEY: undefined,
      OUTBOX_WORKER_ENABLED: undefined,
      SWAGGER_ENABLED: undefined,
      SINCH_PROJECT_ID: 'my-project',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
    });
    cleanups.push(() => service.stop().then(() => undefined));
    await service.waitFor('"msg":"Admin:');

    const statusFile = join(dir, '.readme-test-status');
    const varsFile = join(dir, '.readme-test-vars');
    writeFileSync(statusFile, '');
    writeFileSync(varsFile, '');
    const realCurl = spawnSync('bash', ['-c', 'command -v curl'], {
      encoding: 'utf8',
    }).stdout.trim();
    expect(realCurl).not.toBe('');
    const started = Date.now();
    const result = await runBash(scriptOf(commands, service.baseUrl), dir, {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: process.env.HOME ?? dir,
      LANG: 'C.UTF-8',
      TMPDIR: tmpdir(),
      README_TEST_CURL: realCurl,
      README_TEST_STATUS: statusFile,
      README_TEST_VARS: varsFile,
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    // What each command wrote, the statuses of its curls, the variables its shown output names.
    const stdout = byLine(result.stdout);
    const stderr = byLine(result.stderr);
    const statuses = new Map<number, string[]>();
    for (const l of readFileSync(statusFile, 'utf8').split('\n').filter(Boolean)) {
      const [line, status] = l.split(' ');
      statuses.set(Number(line), [...(statuses.get(Number(line)) ?? []), status!]);
    }
    const vars = new Map<string, string>();
    for (const rec of readFileSync(varsFile, 'utf8').split('\x1e').filter(Boolean)) {
      const [line, name, value] = rec.split('\x1f');
      vars.set(`${line}:${name}`, value ?? '');
    }
    const reached = [...stdout.keys()];
    const finished = result.code === 0 && reached.includes(0);
    const failed = finished ? undefined : reached[reached.length - 1];

    const failures: string[] = [];
    const where = (c: Command) => `README.md:${c.line}: ${firstLine(c.text)}`;
    let curls = 0;
    let lastAnswer: { line: number; status: string } | undefined;
    for (const c of commands) {
      if (!stdout.has(c.line)) break;
      const err = stderr.get(c.line)?.trim();
      if (c.line === failed) {
        failures.push(
          `${where(c)}\n  ${result.timedOut ? `did not finish within ${RUN_TIMEOUT_MS} ms` : `exited with status ${result.code}`}` +
            `${err ? `\n  stderr: ${clip(err)}` : ''}\n  stdout: ${clip(stdout.get(c.line)!) || '(nothing)'}`,
        );
        break;
      }
      // A shown status is that of the last curl answer: of this command, else of an earlier one
      // (`echo "$IMPORT"   # -> 202 ...`). Every other answer must be a 2xx.
      const got = statuses.get(c.line) ?? [];
      curls += got.length;
      const shownStatus = c.expect?.status;
      const shownFor = got.length > 0 ? { line: c.line, status: got[got.length - 1]! } : lastAnswer;
      got.forEach((s, k) => {
        if (!(shownStatus !== undefined && k === got.length - 1) && !/^2\d\d$/.test(s))
          failures.push(
            `${where(c)}\n  curl answered ${s} (the README shows no other status than 2xx here)\n  output: ${clip(stdout.get(c.line)!)}` +
              `${err ? `\n  stderr: ${clip(err)}` : ''}`,
          );
      });
      if (got.length > 0) lastAnswer = shownFor;
      if (shownStatus !== undefined) {
        if (!shownFor)
          failures.push(
            `${where(c)}\n  README.md:${c.expect!.from} shows a status, but no curl ran`,
          );
        else if (shownFor.status !== String(shownStatus))
          failures.push(
            `${where(c)}\n  README.md:${c.expect!.from} shows status ${shownStatus}, curl got ${shownFor.status}` +
              `${shownFor.line !== c.line ? ` (README.md:${shownFor.line})` : ''}\n  output: ${clip(stdout.get(c.line)!)}`,
          );
      }
      if (c.expect && c.expect.text !== '') {
        let d: string | null;
        try {
          d = compareOutput(c.expect.text, stdout.get(c.line)!, (n) => vars.get(`${c.line}:${n}`));
        } catch (e) {
          d = (e as Error).message;
        }
        if (d)
          failures.push(
            `${where(c)}\n  ${d}\n  shown (README.md:${c.expect.from}-${c.expect.to}): ${clip(c.expect.text)}\n  actual: ${clip(stdout.get(c.line)!)}`,
          );
      }
    }

    // README_TEST_TRANSCRIPT=<file>: every command and what it wrote, for whoever edits the README.
    if (process.env.README_TEST_TRANSCRIPT)
      writeFileSync(
        process.env.README_TEST_TRANSCRIPT,
        commands
          .filter((c) => stdout.has(c.line))
          .map(
            (c) =>
              `README.md:${c.line} [${(statuses.get(c.line) ?? []).join(' ')}]\n${c.text}\n${stdout.get(c.line)}` +
              `${stderr.get(c.line)?.trim() ? `\n(stderr) ${stderr.get(c.line)!.trim()}` : ''}\n`,
          )
          .join('\n'),
      );
    process.stdout.write(
      `[readme] ran ${run.length} README blocks (${commands.length} commands, ${curls} curl calls) in ${seconds} s` +
        `${failed !== undefined ? ` (stopped at README.md:${failed})` : ''}` +
        ` on ${onPostgres ? 'PostgreSQL' : 'the embedded database'}; skipped ${skipped.length}` +
        `${skipped.map((b) => `\n  README.md:${b.line}: ${b.skip}`).join('')}\n`,
    );
    if (failures.length > 0)
      throw new Error(
        `${failures.length} README example(s) do not do what the README says:\n\n${failures.join('\n\n')}` +
          `\n\n(fix the example or what the README shows; a block that cannot run in a test gets` +
          ` <!-- readme-test: skip (why) --> right before its fence)` +
          `\n\nservice log (last lines):\n${service.output().split('\n').slice(-15).join('\n')}`,
      );
    expect(finished).toBe(true);
    expect(run.length).toBeGreaterThanOrEqual(MIN_BLOCKS);
    expect(curls).toBeGreaterThanOrEqual(MIN_CURLS);
  }, 120_000);
});
