// Consent Gate compliance console: one plain ES module, no build step. Every value from the API
// is written with textContent, never parsed as HTML, the API key lives in sessionStorage (this tab
// only) and travels as a bearer token; it is never shown, logged or put in a URL.

const KEY = 'consent-gate.api-key';
const APP = 'consent-gate.app';
/** The timeline reads at most this many records (pages of 500), then says so. */
const TIMELINE_MAX = 10_000;

const $ = (id) => document.getElementById(id);
const state = { scopes: [], project: '', app: '', identity: '' };

// ---------- small DOM helpers (text only) ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ''));
  return node;
}

function fillTable(table, rows) {
  const body = table.tBodies[0];
  if (rows.length === 0) {
    const columns = String(table.tHead.rows[0].cells.length);
    body.replaceChildren(el('tr', {}, el('td', { colspan: columns, class: 'none' }, 'None.')));
  } else {
    body.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map(cell))));
  }
  table.hidden = false;
}

function cell(v) {
  return v instanceof Node && v.tagName === 'TD' ? v : el('td', {}, v ?? '');
}

function say(text) {
  $('alert').textContent = '';
  $('status').textContent = text;
}

function fail(e) {
  $('status').textContent = '';
  $('alert').textContent = e instanceof Error ? e.message : String(e);
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { timeZoneName: 'short' }) : '';
}

function can(scope) {
  return state.scopes.includes('admin') || state.scopes.includes(scope);
}

/** Saves a Blob as a file (the browser's download). */
function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function fileNameOf(res, fallback) {
  const m = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '');
  return m ? m[1] : fallback;
}

// ---------- API ----------

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function appPath(rest) {
  return `/v1/projects/${encodeURIComponent(state.project)}/apps/${encodeURIComponent(state.app)}${rest}`;
}

async function api(method, path, { body, headers = {}, raw = false } = {}) {
  const h = { authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}`, ...headers };
  let payload = body;
  if (body !== undefined && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers: h, body: payload });
  if (!res.ok) {
    let message = `${method} failed: HTTP ${res.status}`;
    try {
      const err = (await res.json()).error;
      if (err?.message) message = `${err.message} (HTTP ${res.status})`;
    } catch {
      // not JSON: keep the status line
    }
    if (res.status === 401) message = 'The API key is not valid (any more). Sign in again.';
    throw new ApiFailure(res.status, message);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

// ---------- sign in ----------

async function signIn(key, project, app) {
  sessionStorage.setItem(KEY, key);
  const me = await api('GET', '/v1/whoami');
  state.scopes = me.scopes;
  state.project = project;
  state.app = app;
  localStorage.setItem(APP, JSON.stringify({ project, app }));
  $('whoami').textContent = `Key ${me.key_id} (${me.scopes.join(', ')})`;
  $('app-label').textContent = `Project ${project}, app ${app}`;
  for (const node of document.querySelectorAll('[data-scope]')) {
    node.hidden = !can(node.dataset.scope);
  }
  $('sign-in').hidden = true;
  $('session').hidden = false;
  $('workspace').hidden = false;
  say(`Signed in with scopes: ${me.scopes.join(', ')}.`);
  await loadLists().catch(fail);
}

function signOut() {
  sessionStorage.removeItem(KEY);
  location.reload();
}

// ---------- identity ----------

async function lookUp(raw) {
  say('Looking up…');
  const id = encodeURIComponent(raw.trim());
  const current = await api('GET', appPath(`/identities/${id}`));
  state.identity = current.identity;
  $('identity-heading').textContent = `Identity ${current.identity}`;
  $('identity-lists-summary').textContent = current.opted_out
    ? `On ${current.lists.length} list(s).`
    : 'On no opt-out list: every content type may be sent.';
  if (current.lists.length > 0) {
    fillTable(
      $('identity-lists'),
      current.lists.map((l) => [l.list_type, time(l.since), l.origin]),
    );
  } else {
    $('identity-lists').hidden = true;
  }
  $('at-answer').textContent = '';
  if (!$('at-time').value) $('at-time').value = localInputValue(new Date());

  const records = [];
  let token = '';
  do {
    const q = `?page_size=500${token ? `&page_token=${encodeURIComponent(token)}` : ''}`;
    const page = await api(
      'GET',
      appPath(`/identities/${encodeURIComponent(state.identity)}/audit-records${q}`),
    );
    records.push(...page.audit_records);
    token = page.next_page_token;
  } while (token && records.length < TIMELINE_MAX);
  records.reverse();
  fillTable(
    $('timeline'),
    records.map((r) => [
      time(r.recorded_at),
      [r.kind, r.operation, r.outcome].filter(Boolean).join(' · '),
      r.list_type ?? '',
      r.origin ?? '',
      r.actor,
      r.reason ?? '',
      el('td', {}, el('code', {}, r.evidence == null ? '' : JSON.stringify(r.evidence))),
    ]),
  );
  $('timeline').tBodies[0].hidden = false;
  $('identity-result').hidden = false;
  $('identity-heading').focus();
  say(
    `${records.length} audit record(s)${token ? ` (the first ${records.length} only)` : ''}, newest first.`,
  );
}

/** A Date as the value of an <input type="datetime-local" step="1"> (local time). */
function localInputValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

async function checkAt() {
  const local = $('at-time').value;
  const at = new Date(local);
  if (Number.isNaN(at.getTime())) throw new Error('Give a date and time.');
  const answer = await api('POST', appPath('/consents:check'), {
    body: {
      identities: [state.identity],
      message_content_type: $('at-content').value,
      at: at.toISOString(),
    },
  });
  const r = answer.results[0];
  const verdict = r.decision === 'ALLOW' ? 'Allowed' : 'Blocked';
  const lists = r.lists.length ? ` On ${r.lists.join(', ')}` : ' On no list';
  const by = r.decided_by?.length ? `, decided by audit record(s) ${r.decided_by.join(', ')}` : '';
  $('at-answer').replaceChildren(
    el('span', { class: r.decision === 'ALLOW' ? 'ok' : 'bad' }, verdict),
    ` at ${time(answer.at)} (${answer.mode} mode).${lists}${by}. Reason: ${r.reason}`,
  );
}

async function downloadEvidence() {
  say('Building the evidence bundle…');
  const res = await api(
    'GET',
    appPath(`/identities/${encodeURIComponent(state.identity)}:evidence`),
    {
      raw: true,
    },
  );
  save(await res.blob(), `evidence-${state.identity}.json`);
  say('Evidence bundle downloaded. Check it offline with npm run verify-evidence.');
}

function openErase() {
  $('erase-identity').textContent = state.identity;
  $('erase-confirm').value = '';
  $('erase-reason').value = '';
  $('erase-dialog').showModal();
  $('erase-confirm').focus();
}

async function erase() {
  if ($('erase-confirm').value.trim() !== state.identity) {
    throw new Error('The identity typed does not match: nothing was erased.');
  }
  const reason = $('erase-reason').value.trim();
  $('erase-dialog').close();
  let answer;
  try {
    answer = await api('POST', appPath(`/identities/${encodeURIComponent(state.identity)}:erase`), {
      body: reason ? { reason } : {},
    });
  } finally {
    $('erase').focus();
  }
  const lists = answer.lists.length ? `still on ${answer.lists.join(', ')}` : 'on no list';
  const erased = state.identity;
  await lookUp(erased).catch(fail);
  say(`Identity ${erased} erased (${lists}, by its keyed hash): erased.`);
}

// ---------- lists, export, import ----------

async function loadLists() {
  const { lists } = await api('GET', appPath('/lists'));
  fillTable(
    $('list-table'),
    lists.map((l) => [
      l.list_type,
      el('td', { class: 'num' }, l.size.toLocaleString()),
      el(
        'td',
        {},
        el(
          'button',
          {
            type: 'button',
            'aria-label': `Export ${l.list_type} as CSV`,
            onclick: () => exportList(l.list_type).catch(fail),
          },
          'Export CSV',
        ),
      ),
    ]),
  );
}

async function exportList(listType) {
  say(`Exporting ${listType}…`);
  const res = await api('GET', appPath(`/consents/${listType}:export`), {
    raw: true,
    headers: { accept: 'text/csv' },
  });
  const blob = await res.blob();
  save(blob, fileNameOf(res, `${state.app}-${listType}.csv`));
  say(`Exported ${listType} (${blob.size.toLocaleString()} bytes).`);
}

/** Uploads with XMLHttpRequest: fetch cannot report upload progress. */
function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', appPath('/imports'));
    xhr.setRequestHeader('authorization', `Bearer ${sessionStorage.getItem(KEY) ?? ''}`);
    const ndjson = /\.(ndjson|jsonl)$/i.test(file.name);
    xhr.setRequestHeader('content-type', ndjson ? 'application/x-ndjson' : 'text/csv');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new Error('The upload failed (network).'));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // keep null
      }
      if (xhr.status === 202) resolve(body);
      else
        reject(
          new ApiFailure(
            xhr.status,
            `${body?.error?.message ?? 'The import was refused'} (HTTP ${xhr.status})`,
          ),
        );
    };
    xhr.send(file);
  });
}

async function runImport(file) {
  const bar = $('import-bar');
  $('import-progress').hidden = false;
  $('import-errors').hidden = true;
  $('import-bar-label').textContent = `Uploading ${file.name}`;
  bar.value = 0;
  say(`Uploading ${file.name}…`);
  const accepted = await upload(file, (f) => (bar.value = f));
  $('import-bar-label').textContent = `Importing ${file.name}`;
  say(`Uploaded; importing (import ${accepted.import_id})…`);
  let s;
  for (;;) {
    s = await api('GET', appPath(`/imports/${accepted.import_id}`));
    const done = s.applied + s.no_change + s.superseded + s.rejected;
    bar.value = s.rows_read > 0 ? done / s.rows_read : 0;
    $('import-summary').textContent = `${done} of ${s.rows_read} rows (${s.status})`;
    if (s.status === 'SUCCEEDED' || s.status === 'FAILED') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  bar.value = 1;
  $('import-bar-label').textContent = `Imported ${file.name}`;
  $('import-summary').textContent =
    `${s.status}: ${s.rows_read} rows read, ${s.applied} applied, ${s.no_change} unchanged, ` +
    `${s.superseded} superseded, ${s.rejected} rejected.${s.error ? ` ${s.error}` : ''}`;
  if (s.rejected > 0) {
    const page = await api('GET', appPath(`/imports/${accepted.import_id}/errors?page_size=1000`));
    fillTable(
      $('import-errors'),
      page.errors.map((e) => [String(e.line), e.field || '(row)', e.description]),
    );
  }
  say(
    `Import ${s.status === 'SUCCEEDED' ? 'finished' : 'failed'}: ${s.applied} applied, ${s.rejected} rejected.`,
  );
  await loadLists().catch(fail);
}

// ---------- audit chain ----------

function fillList(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  dl.hidden = false;
}

async function verify() {
  say('Verifying the audit chain…');
  const v = await api('GET', appPath('/audit:verify'));
  const pairs = [
    ['Chain', el('span', { class: v.verified ? 'ok' : 'bad' }, v.verified ? 'Verified' : 'BROKEN')],
    ['Records checked', String(v.records)],
    ['Checkpoints checked', String(v.checkpoints)],
  ];
  if (v.verified) {
    pairs.push(['Head record', v.head_record_id ?? '(none)'], ['Head hash', v.head_hash ?? '']);
  } else {
    pairs.push(['First bad record', v.first_bad_record_id ?? ''], ['Why', v.reason ?? '']);
  }
  fillList($('verify-result'), pairs);
  const { checkpoints } = await api('GET', appPath('/audit-checkpoints?page_size=1'));
  const c = checkpoints[0];
  fillList(
    $('checkpoint-result'),
    c
      ? [
          ['Latest checkpoint', c.checkpoint_id],
          ['Signed', time(c.signed_at)],
          ['Position', `${c.chain_seq} (record ${c.record_id})`],
          ['Head hash', c.head_hash],
          ['Key id', c.key_id],
        ]
      : [['Latest checkpoint', 'none yet']],
  );
  say(v.verified ? 'The audit chain verifies.' : 'The audit chain does NOT verify.');
}

// ---------- failed deliveries ----------

async function loadFailures() {
  say('Loading failed deliveries…');
  const replies = await api('GET', appPath('/reply-jobs?status=FAILED&page_size=100'));
  fillTable(
    $('reply-failures'),
    replies.reply_jobs.map((j) => [
      j.id,
      j.identity,
      j.action,
      j.channel,
      String(j.attempts),
      j.last_error ?? '',
      time(j.finished_at),
      el(
        'td',
        {},
        can('admin')
          ? el(
              'button',
              {
                type: 'button',
                'aria-label': `Send reply ${j.id} again`,
                onclick: (e) => resendReply(j.id, e.currentTarget).catch(fail),
              },
              'Send again',
            )
          : '',
      ),
    ]),
  );
  $('reply-note').hidden = false;
  const { callbacks } = await api('GET', appPath('/callbacks'));
  const rows = [];
  for (const cb of callbacks) {
    const page = await api(
      'GET',
      appPath(`/callbacks/${cb.id}/deliveries?outcome=GAVE_UP&page_size=100`),
    );
    for (const d of page.deliveries) {
      const button = can('admin')
        ? el(
            'button',
            {
              type: 'button',
              'aria-label': `Redeliver event ${d.event_id}`,
              onclick: (e) => redeliver(cb.id, d.event_id, e.currentTarget).catch(fail),
            },
            'Redeliver',
          )
        : '';
      rows.push([
        cb.target_url,
        el('td', {}, el('code', {}, d.event_id)),
        d.trigger,
        d.error ?? (d.http_status == null ? '' : `HTTP ${d.http_status}`),
        time(d.attempted_at),
        el('td', {}, button),
      ]);
    }
  }
  fillTable($('callback-failures'), rows);
  say(`${replies.reply_jobs.length} failed repl(ies), ${rows.length} callback(s) given up.`);
}

async function resendReply(jobId, button) {
  const r = await api('POST', appPath(`/reply-jobs/${encodeURIComponent(jobId)}:redeliver`));
  button.disabled = true;
  button.textContent = 'Queued';
  say(`Reply ${jobId} queued again (job ${r.job_id}).`);
}

async function redeliver(callbackId, eventId, button) {
  const r = await api(
    'POST',
    appPath(`/callbacks/${callbackId}/deliveries/${encodeURIComponent(eventId)}:redeliver`),
  );
  button.disabled = true;
  button.textContent = 'Queued';
  say(`Redelivery of event ${eventId} queued (job ${r.job_id}).`);
}

// ---------- wiring ----------

function on(id, event, fn) {
  $(id).addEventListener(event, (e) => {
    if (event === 'submit') e.preventDefault();
    Promise.resolve()
      .then(() => fn(e))
      .catch(fail);
  });
}

on('sign-in-form', 'submit', async () => {
  try {
    await signIn($('api-key').value.trim(), $('project-id').value.trim(), $('app-id').value.trim());
  } catch (e) {
    sessionStorage.removeItem(KEY);
    throw e;
  } finally {
    $('api-key').value = '';
  }
  $('identity-input').focus();
});
on('sign-out', 'click', signOut);
on('lookup-form', 'submit', () => lookUp($('identity-input').value));
on('at-form', 'submit', checkAt);
on('evidence', 'click', downloadEvidence);
on('erase', 'click', openErase);
on('erase-cancel', 'click', () => {
  $('erase-dialog').close();
  $('erase').focus();
});
on('erase-form', 'submit', erase);
on('lists-refresh', 'click', async () => {
  await loadLists();
  say('Lists refreshed.');
});
on('import-form', 'submit', () => runImport($('import-file').files[0]));
on('verify', 'click', verify);
on('failures-refresh', 'click', loadFailures);

const remembered = JSON.parse(localStorage.getItem(APP) ?? 'null');
if (remembered) {
  $('project-id').value = remembered.project;
  $('app-id').value = remembered.app;
}
const key = sessionStorage.getItem(KEY);
if (key && remembered) {
  signIn(key, remembered.project, remembered.app).catch((e) => {
    sessionStorage.removeItem(KEY);
    fail(e);
  });
}
