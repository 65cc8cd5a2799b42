import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Api, newApp, startTestApp } from './utils.js';

describe('embedded default (no DATABASE_URL)', () => {
  it('migrates a new data directory, keeps data across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-gate-embedded-'));
    const { base } = newApp();
    try {
      const first = await startTestApp({ DATA_DIR: dir });
      try {
        expect(first.config.DATABASE_URL).toBeUndefined();
        const res = await new Api(first.baseUrl).put(
          `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
          {},
        );
        expect(res.body.outcome).toBe('APPLIED');
      } finally {
        await first.close();
      }
      const second = await startTestApp({ DATA_DIR: dir });
      try {
        const check = await new Api(second.baseUrl).post(`${base}/consents:check`, {
          identities: ['46732001122'],
        });
        expect(check.body.results[0].decision).toBe('BLOCK');
        const docs = await fetch(`${second.baseUrl}/docs`);
        expect(docs.status).toBe(200);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
