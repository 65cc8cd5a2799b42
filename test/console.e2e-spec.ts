// The compliance console (/console) end to end in headless Chromium (Debian's chromium, driven
// by playwright-core): sign in with a key, find an identity and its timeline, ask the
// point-in-time question, export a list, upload an import and watch it finish, verify the chain;
// a read-only key sees no action that needs write or admin.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pw from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { ReplyQueue } from '../src/replies/reply-queue.js';
import { CONSOLE_CSP } from '../src/console/console.controller.js';
import { Receiver } from './callback-receiver.js';
import {
  abandonPendingJobs,
  ADMIN_KEY,
  Api,
  newApp,
  randomPhone,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

// The page's globals, for the functions that run in the browser (page.evaluate, waitForFunction).
declare const document: {
  activeElement: { id: string } | null;
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('compliance console (headless Chromium)', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const a = newApp();
  const marketing = randomPhone();
  const all = [randomPhone(), randomPhone()];
  const pageErrors: string[] = [];
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      SETTINGS_CACHE_TTL_MS: '0',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
    // Seed through the API.
    const res = await api.put(`${a.base}/identities/${marketing}/opt-outs/OPT_OUT_MARKETING`, {
      reason: 'web preferences <b>no</b>',
      evidence: { form: 'prefs-v2' },
    });
    expect(res.status).toBe(200);
    for (const p of all) await api.put(`${a.base}/identities/${p}/opt-outs/OPT_OUT_ALL`);

    profile = mkdtempSync(join(tmpdir(), 'console-chromium-'));
    context = await pw.chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (ds) await abandonPendingJobs(ds, [a.projectId]);
    await t?.close();
    await receiver.stop();
  });

  /** Waits until the status line (aria-live) matches: each action's last step writes it. */
  async function status(re: RegExp): Promise<void> {
    await page.waitForFunction(
      (source) => new RegExp(source).test(document.getElementById('status')!.textContent!),
      re.source,
    );
  }

  /** Signs out (the page reloads) and waits for the remembered project id to be filled in. */
  async function signOut(): Promise<void> {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    await page.waitForFunction(
      (id) => (document.getElementById('project-id') as unknown as { value: string }).value === id,
      a.projectId,
    );
  }

  async function signIn(key: string): Promise<void> {
    await page.goto(`${t.baseUrl}/console`);
    await page.getByLabel('API key').fill(key);
    await page.getByLabel('Project id').fill(a.projectId);
    await page.getByLabel('App id').fill(a.appId);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#whoami').waitFor();
    // The lists are loaded right after sign-in.
    await page.locator('#list-table tbody tr').nth(2).waitFor();
  }

  it('serves its three files with a strict Content-Security-Policy, without the API doc', async () => {
    for (const [path, type] of [
      ['/console', 'text/html'],
      ['/console/console.js', 'text/javascript'],
      ['/console/console.css', 'text/css'],
    ] as const) {
      const res = await fetch(t.baseUrl + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // `/console/` leads to the console's one address.
    const slash = await fetch(t.baseUrl + '/console/', { redirect: 'manual' });
    expect(slash.status).toBe(301);
    expect(slash.headers.get('location')).toBe('/console');
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    const doc = (await api.get('/docs-json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
    // Values are written as text, never as HTML.
    const js = readFileSync(new URL('../src/console/assets/console.js', import.meta.url), 'utf8');
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('an admin finds an identity, its timeline, the point-in-time answer and its lists', async () => {
    await signIn(ADMIN_KEY);
    await expect(page.locator('#whoami').textContent()).resolves.toContain('admin');
    // A phone number as people type it: normalised by the service.
    const typed = `+${marketing.slice(0, 2)} ${marketing.slice(2, 5)}-${marketing.slice(5)}`;
    await page.getByLabel('Phone number or channel identity').fill(typed);
    await page.getByRole('button', { name: 'Look up' }).click();
    await status(/audit record\(s\)/);
    const heading = page.locator('#identity-heading');
    await expect(heading.textContent()).resolves.toBe(`Identity ${marketing}`);
    // Focus moves to the result for keyboard and screen-reader users.
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('identity-heading');
    const lists = page.locator('#identity-lists tbody tr');
    await expect(lists.count()).resolves.toBe(1);
    await expect(lists.first().textContent()).resolves.toContain('OPT_OUT_MARKETING');
    const timeline = page.locator('#timeline tbody tr');
    await expect(timeline.count()).resolves.toBe(1);
    const row = await timeline.first().textContent();
    expect(row).toContain('CONSENT_CHANGE');
    expect(row).toContain('ORIGIN_API');
    expect(row).toContain('admin');
    expect(row).toContain('{"form":"prefs-v2"}');
    // The reason's markup is shown as text, not parsed.
    await expect(page.locator('#timeline b').count()).resolves.toBe(0);
    expect(row).toContain('web preferences <b>no</b>');

    // Was it allowed now, for marketing? No: blocked, decided by its audit record.
    await page.getByLabel('For content type').selectOption('CONTENT_MARKETING');
    await page.getByRole('button', { name: 'Check' }).click();
    await page.locator('#at-answer span').waitFor();
    const answer = await page.locator('#at-answer').textContent();
    expect(answer).toMatch(/^Blocked at .* \(PRIMARY mode\)\. On OPT_OUT_MARKETING, decided by/);
    // And in 2001 it was allowed (nothing recorded by then).
    await page.getByLabel('At (your local time)').fill('2001-01-01T12:00:00');
    await page.getByRole('button', { name: 'Check' }).click();
    await page.locator('#at-answer span.ok').waitFor();

    // The evidence bundle downloads as JSON.
    const [bundle] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download evidence bundle' }).click(),
    ]);
    const evidence = JSON.parse(readFileSync(await bundle.path(), 'utf8'));
    expect(evidence.identity ?? JSON.stringify(evidence)).toContain(marketing);

    // Erase asks for the identity first, then erases it; it stays blocked, and its timeline is
    // now about its erased form, with the ERASURE record on top and no reason left.
    await page.getByRole('button', { name: 'Erase this identity…' }).click();
    await page.locator('#erase-dialog[open]').waitFor();
    await page.getByLabel(/Type the identity/).fill(marketing);
    await page.getByLabel(/Request reference/).fill('ticket 4711');
    await page.getByRole('button', { name: 'Erase permanently' }).click();
    await page.waitForFunction(() =>
      /erased\.$/.test(document.getElementById('status')!.textContent!),
    );
    expect(await page.locator('#status').textContent()).toContain('still on OPT_OUT_MARKETING');
    const erasedTrail = await api.get(`${a.base}/identities/${marketing}/audit-records`);
    const kinds = erasedTrail.body.audit_records.map((r: { kind: string }) => r.kind);
    expect(kinds).toContain('ERASURE');
    for (const r of erasedTrail.body.audit_records) expect(r.identity).toMatch(/^erased:/);
    // Focus goes to the refreshed identity, as after any look-up.
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('identity-heading');
  });

  it('exports a list as CSV and imports a file, with a progress bar and its rejected rows', async () => {
    const sizes = page.locator('#list-table tbody tr');
    await expect(sizes.count()).resolves.toBe(3);
    await expect(sizes.nth(0).locator('td').nth(1).textContent()).resolves.toBe('2');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export OPT_OUT_ALL as CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${a.appId}-OPT_OUT_ALL-.*\\.csv$`));
    const csv = readFileSync(await download.path(), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('identity,list_type,opted_out_since,origin,source,audit_record_id');
    expect(
      csv
        .slice(1)
        .map((l) => l.split(',')[0])
        .sort(),
    ).toEqual([...all].sort());
    await status(/^Exported OPT_OUT_ALL/);

    const fresh = [randomPhone(), randomPhone()];
    const file = [
      'identity,list_type,action,reason,source',
      `${fresh[0]},OPT_OUT_ALL,OPT_OUT,imported,crm`,
      `${fresh[1]},OPT_OUT_NOTIFICATION,,imported,crm`,
      `${randomPhone()},OPT_OUT_EVERYTHING,,bad list,crm`,
    ].join('\n');
    await page.getByLabel('File').setInputFiles({
      name: 'optouts.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(file),
    });
    await page.getByRole('button', { name: 'Upload and import' }).click();
    // Written once the rejected rows are shown.
    await status(/^Import finished/);
    await expect(page.locator('#import-summary').textContent()).resolves.toBe(
      'SUCCEEDED: 3 rows read, 2 applied, 0 unchanged, 0 superseded, 1 rejected.',
    );
    await expect(
      page.locator('#import-bar').evaluate((b) => (b as unknown as { value: number }).value),
    ).resolves.toBe(1);
    const rejected = page.locator('#import-errors tbody tr');
    await expect(rejected.count()).resolves.toBe(1);
    await expect(rejected.first().locator('td').allTextContents()).resolves.toEqual([
      '4',
      'list_type',
      expect.stringContaining('must be one of'),
    ]);
    // The lists were refreshed after the import.
    await page.waitForFunction(
      () =>
        document.querySelector('#list-table tbody tr:nth-child(1) td:nth-child(2)')?.textContent ===
        '3',
    );
    await expect(sizes.nth(2).locator('td').nth(1).textContent()).resolves.toBe('1');
  });

  it('verifies the audit chain, shows the failed deliveries and redelivers one', async () => {
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.locator('#checkpoint-result dd').first().waitFor();
    await expect(page.locator('#verify-result').textContent()).resolves.toContain('Verified');
    // The evidence bundle signed a checkpoint of the head.
    await expect(page.locator('#checkpoint-result').textContent()).resolves.toMatch(
      /^Latest checkpoint\d+Signed/,
    );

    // A callback the receiver refuses (400: given up at once).
    const path = receiver.path();
    receiver.failNext(path, 1, 400);
    const sub = await api.post(`${a.base}/callbacks`, {
      target_url: receiver.url + path,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT'],
    });
    expect(sub.status).toBe(201);
    await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`);
    await until(
      'the given-up callback',
      () => api.get(`${a.base}/callbacks/${sub.body.id}/deliveries?outcome=GAVE_UP`),
      (r) => r.body.deliveries.length === 1,
    );
    // A HELP reply that could not be sent in time (no Sinch here): the worker gives it up.
    const helpJob = await ds.transaction((tx) =>
      t.app.get(ReplyQueue).enqueue(tx, {
        projectId: a.projectId,
        appId: a.appId,
        payload: {
          channel: 'SMS',
          identity: randomPhone(),
          text: 'Reply STOP to opt out.',
          inbound_message_id: '01JDQ10ZB6T8D2V3SA4Q0C7M5N',
          action: 'HELP',
          language: 'en',
        },
      }),
    );
    await ds.query(
      `UPDATE outbox_jobs SET give_up_at = now() - interval '1 second' WHERE id = $1`,
      [helpJob],
    );
    await until(
      'the given-up reply',
      () => api.get(`${a.base}/reply-jobs?status=FAILED`),
      (r) => r.body.reply_jobs.length === 1,
    );
    await page.getByRole('button', { name: 'Show failed deliveries' }).click();
    await page.waitForFunction(() =>
      /failed repl/.test(document.getElementById('status')!.textContent!),
    );
    await expect(page.locator('#status').textContent()).resolves.toBe(
      '1 failed repl(ies), 1 callback(s) given up.',
    );
    // Sent again from the console: a new job that names the failed one.
    await page.getByRole('button', { name: `Send reply ${helpJob} again` }).click();
    await page.waitForFunction(() =>
      /^Reply .* queued again/.test(document.getElementById('status')!.textContent!),
    );
    const resent: { status: string }[] = await ds.query(
      `SELECT status FROM outbox_jobs WHERE payload->>'redelivery_of' = $1`,
      [helpJob],
    );
    expect(resent).toHaveLength(1);
    const failed = page.locator('#callback-failures tbody tr');
    await expect(failed.count()).resolves.toBe(1);
    await expect(failed.first().textContent()).resolves.toContain('HTTP 400 (not retryable)');
    await failed
      .first()
      .getByRole('button', { name: /^Redeliver event / })
      .click();
    await page.waitForFunction(() =>
      /^Redelivery of event .* queued/.test(document.getElementById('status')!.textContent!),
    );
    // The receiver now accepts it: the same event arrives a second time.
    const got = await until(
      'the redelivery',
      () => receiver.at(path),
      (r) => r.length === 2,
    );
    expect(got[1]!.body).toBe(got[0]!.body);
    expect(got[1]!.answered).toBe(200);
  });

  it('a read-only key sees no import, erase or redeliver; the key stays out of the page', async () => {
    const key = await api.post('/v1/api-keys', { name: 'console-reader', scopes: ['read'] });
    // The project and app are remembered, the key is not.
    await signOut();
    await expect(page.getByLabel('API key').inputValue()).resolves.toBe('');
    await signIn(key.body.key_secret);
    await expect(page.locator('#whoami').textContent()).resolves.toContain('(read)');
    await expect(page.locator('#import-form').isHidden()).resolves.toBe(true);
    await page.getByLabel('Phone number or channel identity').fill(all[0]!);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.locator('#identity-result').waitFor();
    await expect(
      page.getByRole('button', { name: 'Erase this identity…' }).isHidden(),
    ).resolves.toBe(true);
    await expect(
      page.getByRole('button', { name: 'Download evidence bundle' }).isVisible(),
    ).resolves.toBe(true);
    // Failed deliveries are shown, with nothing to send again.
    await page.getByRole('button', { name: 'Show failed deliveries' }).click();
    await page.waitForFunction(() =>
      /failed repl/.test(document.getElementById('status')!.textContent!),
    );
    await expect(page.locator('#reply-failures tbody tr').count()).resolves.toBeGreaterThan(0);
    await expect(page.getByRole('button', { name: /^Send reply .* again$/ }).count()).resolves.toBe(
      0,
    );
    await expect(page.getByRole('button', { name: /^Redeliver event / }).count()).resolves.toBe(0);
    const html = await page.content();
    expect(html).not.toContain(key.body.key_secret);
    expect(html).not.toContain(ADMIN_KEY);
    // A reload keeps the session (sessionStorage), a bad key is refused with a message.
    await page.reload();
    await page.locator('#whoami').waitFor();
    await signOut();
    await page.getByLabel('API key').fill('cg_not_a_real_key_0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForFunction(() =>
      /not valid/.test(document.getElementById('alert')!.textContent!),
    );
    await expect(page.locator('#workspace').isHidden()).resolves.toBe(true);
    expect(
      pageErrors.filter((e) => !/the server responded with a status of (401|404)/.test(e)),
    ).toEqual([]);
  });
});
