// The README's screenshots of the compliance console (docs/console-*.png): boots the built
// service on an in-memory embedded database, seeds an app through the API, drives Debian's
// chromium (playwright-core) through the console and captures four sections.
// Run: npm run console:screenshots (builds first). Needs /usr/bin/chromium.
/* global document */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pw from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const adminKey = `screenshots-${randomBytes(12).toString('hex')}`;
const project = 'acme-prod';
const app = 'marketing-sms';
const base = `/v1/projects/${project}/apps/${app}`;

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const service = spawn(process.execPath, ['dist/src/main.js'], {
  cwd: root,
  env: {
    ...process.env,
    DATABASE_URL: '',
    DATA_DIR: 'memory://',
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_API_KEY: adminKey,
    LOG_LEVEL: 'warn',
    SWAGGER_ENABLED: 'false',
    OUTBOX_POLL_INTERVAL_MS: '100',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
// A callback target that refuses everything (400: given up at once), for a failed delivery.
const refuser = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(400).end());
}).listen(0, '127.0.0.1');
const profile = mkdtempSync(join(tmpdir(), 'console-screenshots-'));
let context;

async function call(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: {
      authorization: `Bearer ${adminKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

try {
  for (let i = 0; ; i++) {
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (i > 600) throw new Error('the service did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  for (let i = 0; i < 5; i++) {
    await call('PUT', `${base}/identities/4670${1000000 + i}/opt-outs/OPT_OUT_ALL`);
  }
  await call('POST', `${base}/callbacks`, {
    target_url: `http://127.0.0.1:${refuser.address().port}/consent-events`,
    secret: 'a-long-shared-secret-0123',
    triggers: ['OPT_OUT'],
  });
  const who = '46732001122';
  await call('PUT', `${base}/identities/${who}/opt-outs/OPT_OUT_MARKETING`, {
    reason: 'web preferences',
    evidence: { form: 'prefs-v2', ip_hash: '9c1f' },
  });
  await call('DELETE', `${base}/identities/${who}/opt-outs/OPT_OUT_MARKETING`, {
    reason: 'signed up again at the shop',
    evidence: { store: 'STO-12' },
  });
  await call('PUT', `${base}/identities/${who}/opt-outs/OPT_OUT_ALL`, {
    reason: 'customer call',
    evidence: { ticket: 'CS-4411' },
  });
  await call('POST', `${base}/audit:checkpoint`);

  context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1000, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(join(root, 'docs'), { recursive: true });
  const shot = (id, name) =>
    page.locator(`#${id}`).screenshot({ path: join(root, 'docs', `console-${name}.png`) });

  await page.goto(`${url}/console`);
  await page.getByLabel('API key').fill(adminKey);
  await page.getByLabel('Project id').fill(project);
  await page.getByLabel('App id').fill(app);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#whoami').waitFor();

  await page.getByLabel('Phone number or channel identity').fill('+46 73-200 11 22');
  await page.getByRole('button', { name: 'Look up' }).click();
  await page.locator('#timeline tbody tr').first().waitFor();
  await page.getByLabel('For content type').selectOption('CONTENT_MARKETING');
  await page.getByRole('button', { name: 'Check' }).click();
  await page.locator('#at-answer span').waitFor();
  await shot('identity', 'identity');

  const csv = [
    'identity,list_type,action,reason,source',
    '46709000001,OPT_OUT_ALL,OPT_OUT,STOP by SMS,twilio',
    '46709000002,OPT_OUT_MARKETING,,unsubscribe link,twilio',
    '46709000003,OPT_OUT_EVERYTHING,,,twilio',
  ].join('\n');
  await page.getByLabel('File').setInputFiles({
    name: 'twilio-optouts.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(csv),
  });
  await page.getByRole('button', { name: 'Upload and import' }).click();
  await page.waitForFunction(() =>
    /^SUCCEEDED/.test(document.getElementById('import-summary').textContent),
  );
  await page.locator('#import-errors tbody tr').first().waitFor();
  await shot('lists', 'lists');

  await page.getByRole('button', { name: 'Verify the chain' }).click();
  await page.locator('#checkpoint-result dd').first().waitFor();
  await page.getByRole('button', { name: 'Show failed deliveries' }).click();
  await page.locator('#callback-failures tbody tr').first().waitFor();
  await shot('audit', 'audit');
  await shot('failures', 'failures');
  process.stdout.write('wrote docs/console-{identity,lists,audit,failures}.png\n');
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  refuser.close();
  service.kill('SIGTERM');
}
