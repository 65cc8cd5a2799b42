import { describe, expect, it } from '@jest/globals';
import { loadConfig } from './config/app-config.js';
import { bootSummary, curlWithKeyFile, localUrl, redactDatabaseUrl } from './boot-summary.js';

describe('boot summary', () => {
  it('never shows a database password or URL parameters', () => {
    expect(
      redactDatabaseUrl(
        'postgres://app:s3cret%21@db.internal:5432/consent?sslmode=require&password=x',
      ),
    ).toBe('postgres://app@db.internal:5432/consent');
    expect(redactDatabaseUrl('host=db password=s3cret')).not.toContain('s3cret');
    const config = loadConfig({ DATABASE_URL: 'postgres://app:s3cret@db:5432/cg' });
    const text = bootSummary(config, 3000, { kind: 'env' })
      .map((l) => l.message)
      .join('\n');
    expect(text).toContain('Database: PostgreSQL at postgres://app@db:5432/cg');
    expect(text).not.toContain('s3cret');
  });

  it('says where to go: local URL, Swagger, defaults, Sinch, and the next step, in at most 10 lines', () => {
    const config = loadConfig({ DATA_DIR: '/var/lib/cg' });
    const lines = bootSummary(config, 3000, {
      kind: 'created',
      keyId: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
      file: '/var/lib/cg/bootstrap-admin-key',
    });
    expect(lines.length).toBeLessThanOrEqual(10);
    const text = lines.map((l) => l.message).join('\n');
    expect(text).toContain(
      'Consent Gate listening on http://localhost:3000 (bound to 0.0.0.0:3000)',
    );
    expect(text).toContain('Swagger UI: http://localhost:3000/docs');
    expect(text).toContain('Compliance console: http://localhost:3000/console');
    expect(text).toContain('data in /var/lib/cg');
    expect(text).toContain('PRIMARY mode');
    expect(lines.find((l) => l.message.startsWith('Sinch:'))).toMatchObject({ level: 'warn' });
    expect(text).toContain(
      'curl -s --oauth2-bearer $(cat /var/lib/cg/bootstrap-admin-key) http://localhost:3000/v1/api-keys',
    );
    // Logs are JSON: the command to paste has no double quote to escape.
    expect(lines.find((l) => l.message.startsWith('Admin:'))!.message).not.toContain('"');
  });

  it('quotes a key file path that needs it, and brackets IPv6 hosts', () => {
    expect(curlWithKeyFile('http://localhost:3000', "/tmp/my dir/it's")).toBe(
      "curl -s --oauth2-bearer $(cat '/tmp/my dir/it'\\''s') http://localhost:3000/v1/api-keys",
    );
    expect(localUrl('::1', 8080)).toBe('http://[::1]:8080');
    expect(localUrl('::', 8080)).toBe('http://localhost:8080');
  });

  it('says what to do when there is no usable admin key', () => {
    const config = loadConfig({});
    const none = bootSummary(config, 3000, { kind: 'none', reason: 'revoked' }).at(-1)!;
    expect(none.level).toBe('warn');
    expect(none.message).toContain('npm run keys -- create --name admin --scopes admin');
    const memory = bootSummary(loadConfig({ DATA_DIR: 'memory://' }), 3000, {
      kind: 'none',
      reason: 'no-file',
    }).at(-1)!;
    expect(memory.message).toContain('BOOTSTRAP_KEY_FILE');
    const mismatch = bootSummary(config, 3000, {
      kind: 'bootstrap',
      keyId: 'K',
      file: '/d/bootstrap-admin-key',
      host: 'elsewhere',
      fileState: 'mismatch',
    }).at(-1)!;
    expect(mismatch.message).toContain('holds another secret (it was written on host elsewhere)');
  });
});
