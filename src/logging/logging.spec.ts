import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { loadConfig } from '../config/app-config.js';
import { hashForLog } from '../common/log-safe.js';
import { pinoHttpOptions, pinoLevel, pinoOptions, safeUrl } from './logging.js';

/** A destination that keeps every line pino writes. */
function capture(): {
  stream: Writable;
  lines: () => Record<string, unknown>[];
  text: () => string;
} {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('pinoLevel', () => {
  it("maps LOG_LEVEL (Nest's names) onto pino's", () => {
    expect(
      (['silent', 'error', 'warn', 'log', 'debug', 'verbose'] as const).map(pinoLevel),
    ).toEqual(['silent', 'error', 'warn', 'info', 'debug', 'trace']);
  });
});

describe('safeUrl', () => {
  it('hashes the identity segment and drops the query string', () => {
    const h = hashForLog('+46732001122', 'salt');
    expect(safeUrl('/v1/projects/p/apps/a/identities/%2B46732001122/opt-outs/X?q=1', 'salt')).toBe(
      `/v1/projects/p/apps/a/identities/#${h}/opt-outs/X?…`,
    );
    expect(safeUrl('/v1/projects/p/apps/a/consents/identities/46732001122', 'salt')).toBe(
      `/v1/projects/p/apps/a/consents/identities/#${hashForLog('46732001122', 'salt')}`,
    );
    expect(safeUrl('/health', 'salt')).toBe('/health');
    expect(safeUrl('/x/identities/%E0%A4%A', 'salt')).toMatch(/^\/x\/identities\/#[0-9a-f]{12}$/);
  });

  it('hashes a phone-like digit run anywhere in the path (mistyped routes)', () => {
    const h = (v: string) => `#${hashForLog(v, 'salt')}`;
    expect(safeUrl('/v1/projects/p/apps/a/identity/46732001122', 'salt')).toBe(
      `/v1/projects/p/apps/a/identity/${h('46732001122')}`,
    );
    expect(safeUrl('/v1/projects/p/apps/a/contacts/%2B46732001122/x', 'salt')).toBe(
      `/v1/projects/p/apps/a/contacts/${h('+46732001122')}/x`,
    );
    expect(safeUrl('/apps/a/contacts/+1%20(555)%20123-1212/x', 'salt')).toBe(
      `/apps/a/contacts/${h('+1 (555) 123-1212')}/x`,
    );
    expect(safeUrl('/apps/a/x/tel:46732001122;ext=9', 'salt')).toBe(
      `/apps/a/x/tel:${h('46732001122')};ext=9`,
    );
    expect(safeUrl('/apps/a/x/46.73.20.01', 'salt')).toBe(`/apps/a/x/${h('46.73.20.01')}`);
    // Short numbers and ids stay readable; the identities segment keeps its one hash.
    expect(safeUrl('/v1/projects/p-12345/apps/a/reply-jobs?after=46732001122', 'salt')).toBe(
      '/v1/projects/p-12345/apps/a/reply-jobs?…',
    );
    expect(safeUrl('/x/identities/46732001122/y', 'salt')).toBe(
      `/x/identities/${h('46732001122')}/y`,
    );
    for (const url of [
      '/identity/46732001122',
      '/a/%2B46732001122',
      '/a/46-73-20-01-122',
      '/a/0046732001122abc',
    ])
      expect(safeUrl(url, 'salt').replace(/#[0-9a-f]{12}/g, '#')).not.toMatch(
        /\d{6}|\d{2}[-.]\d{2}[-.]\d{2}/,
      );
  });
});

describe('pino options', () => {
  it('redacts credentials and bodies in any logged object', () => {
    const out = capture();
    const log = pino(pinoOptions(loadConfig({ LOG_LEVEL: 'debug' })), out.stream);
    log.debug(
      {
        req: { headers: { authorization: 'Bearer s3cret', cookie: 'sid=s3cret' }, body: { a: 1 } },
        headers: { 'x-sinch-webhook-signature': 's3cret' },
        body: { text: 'private' },
      },
      'm',
    );
    expect(out.text()).not.toContain('s3cret');
    expect(out.text()).not.toContain('private');
    expect(out.lines()[0]).toMatchObject({ level: 'debug', msg: 'm' });
  });

  it('logs a request as id, method, safe URL and status only', async () => {
    const out = capture();
    const config = loadConfig({ LOG_LEVEL: 'log', LOG_HTTP_REQUESTS: 'true' });
    const middleware = pinoHttp(pinoHttpOptions(config), out.stream);
    const server = createServer((req, res) => {
      middleware(req, res);
      req.resume();
      req.on('end', () => res.writeHead(201, { 'set-cookie': 'sid=s3cret' }).end('{"ok":1}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(
        `http://127.0.0.1:${port}/v1/projects/p/apps/a/identities/46732001122/opt-outs/OPT_OUT_ALL?x=46732001122`,
        {
          method: 'PUT',
          headers: {
            authorization: 'Bearer s3cret',
            cookie: 'sid=s3cret',
            'x-sinch-webhook-signature': 's3cret',
            'content-type': 'application/json',
          },
          body: JSON.stringify({ reason: 'private text 46732001122' }),
        },
      );
      await res.text();
      for (let i = 0; i < 100 && out.lines().length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const [line] = out.lines();
    const h = hashForLog('46732001122', config.LOG_HASH_SALT);
    expect(line).toMatchObject({
      level: 'info',
      msg: 'request completed',
      req: {
        method: 'PUT',
        url: `/v1/projects/p/apps/a/identities/#${h}/opt-outs/OPT_OUT_ALL?…`,
      },
      res: { status_code: 201 },
    });
    expect(out.text()).not.toContain('46732001122');
    expect(out.text()).not.toContain('s3cret');
    expect(out.text()).not.toContain('private');
  });
});
