import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { jwtVerify, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { Scope } from './api-key.entity.js';
import { Principal } from './principal.js';

const ISSUER = 'consent-gate';
const SECRET_NAME = 'oauth2_token_signing_key';

/**
 * OAuth2 access tokens: HS256 JWTs with `exp`, as the Sinch SDK expects. The signing key is
 * TOKEN_SIGNING_SECRET, or else one generated on first boot and kept in the database, so that
 * every instance of the service accepts every instance's tokens.
 */
@Injectable()
export class TokenService implements OnApplicationBootstrap {
  private key?: Uint8Array;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.TOKEN_SIGNING_SECRET) {
      this.key = new TextEncoder().encode(this.config.TOKEN_SIGNING_SECRET);
      return;
    }
    await this.dataSource.query(
      `INSERT INTO service_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
      [SECRET_NAME, randomBytes(32).toString('base64')],
    );
    const rows: { value: string }[] = await this.dataSource.query(
      `SELECT value FROM service_secrets WHERE name = $1`,
      [SECRET_NAME],
    );
    this.key = Buffer.from(rows[0]!.value, 'base64');
  }

  async issue(p: Principal): Promise<{ token: string; expiresIn: number }> {
    const expiresIn = this.config.TOKEN_TTL_SECONDS;
    const claims: Record<string, string> = { scope: p.scopes.join(' ') };
    if (p.keyFingerprint) claims.kfp = p.keyFingerprint;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(p.keyId)
      .setIssuedAt()
      .setExpirationTime(`${expiresIn}s`)
      .sign(this.signingKey());
    return { token, expiresIn };
  }

  /** The principal in a valid, unexpired token (and when it expires, in ms), or null. */
  async verify(token: string): Promise<{ principal: Principal; expiresAt: number } | null> {
    try {
      const { payload } = await jwtVerify(token, this.signingKey(), {
        issuer: ISSUER,
        algorithms: ['HS256'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.scope !== 'string') return null;
      const scopes = payload.scope
        .split(' ')
        .filter((s): s is Scope => (Object.values(Scope) as string[]).includes(s));
      const keyFingerprint = typeof payload.kfp === 'string' ? payload.kfp : undefined;
      return {
        principal: { keyId: payload.sub, scopes, keyFingerprint },
        expiresAt: (payload.exp ?? 0) * 1000,
      };
    } catch {
      return null;
    }
  }

  private signingKey(): Uint8Array {
    if (!this.key) throw new Error('TokenService used before bootstrap');
    return this.key;
  }
}
