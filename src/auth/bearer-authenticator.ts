import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error.js';
import { AppConfig } from '../config/app-config.js';
import { Scope } from './api-key.entity.js';
import { ApiKeyService } from './api-key.service.js';
import { hasScope, Principal } from './principal.js';
import { TokenService } from './token.service.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Resolves `Authorization: Bearer <token>` to a principal with the required scope, or throws a
 * 401/403 ApiError. The token is an API key secret (or ADMIN_API_KEY), or an access token from
 * POST /oauth2/token. Used by the global AuthGuard and by the send-check fast path.
 */
@Injectable()
export class BearerAuthenticator {
  private readonly verified = new Map<string, { principal: Principal; until: number }>();
  private readonly cacheTtlMs: number;

  constructor(
    private readonly keys: ApiKeyService,
    private readonly tokens: TokenService,
    config: AppConfig,
  ) {
    this.cacheTtlMs = config.AUTH_CACHE_TTL_MS;
    keys.onRevocation(() => this.verified.clear());
  }

  /**
   * True when `header` carries a token verified within AUTH_CACHE_TTL_MS that has the scope:
   * the hot path's way to skip a promise. False means "ask authenticate()", not "refused".
   */
  isCachedWithScope(header: string | undefined, required: Scope): boolean {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    const hit = this.verified.get(header.slice(7));
    return hit !== undefined && hit.until > Date.now() && hasScope(hit.principal, required);
  }

  async authenticate(header: string | undefined, required: Scope): Promise<Principal> {
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match)
      throw ApiError.unauthenticated('Missing bearer token (Authorization: Bearer <token>).');
    const principal = await this.resolve(match[1]!);
    if (!principal) throw ApiError.unauthenticated();
    if (!hasScope(principal, required)) {
      throw ApiError.permissionDenied(`This endpoint needs the "${required}" scope.`);
    }
    return principal;
  }

  /**
   * Verified tokens are remembered for AUTH_CACHE_TTL_MS (never past a JWT's exp), which spares
   * the hashing and signature check on every request; revocation takes effect within that time
   * (at once on the instance that revoked).
   */
  private async resolve(token: string): Promise<Principal | null> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit && hit.until > now) return hit.principal;
    let principal: Principal | null;
    let until = now + this.cacheTtlMs;
    if (JWT_SHAPE.test(token)) {
      const verified = await this.tokens.verify(token);
      principal =
        verified && (await this.keys.isActive(verified.principal)) ? verified.principal : null;
      if (verified) until = Math.min(until, verified.expiresAt);
    } else {
      principal = await this.keys.verifySecret(token);
    }
    if (principal && this.cacheTtlMs > 0) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, { principal, until });
    }
    return principal;
  }
}
