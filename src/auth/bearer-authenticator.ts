import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/api-error.js';
import { AppConfigCache, ConfigNamespace } from '../config-cache/app-config-cache.js';
import { Scope } from './api-key.entity.js';
import { ApiKeyService } from './api-key.service.js';
import { missingBearer, missingScope } from './auth-errors.js';
import { hasScope, Principal } from './principal.js';
import { TokenService } from './token.service.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Resolves `Authorization: Bearer <token>` to a principal with the required scope, or throws a
 * 401/403 ApiError. The token is an API key secret (or ADMIN_API_KEY), or an access token from
 * POST /oauth2/token. Used by the global AuthGuard and by the send-check fast path.
 *
 * What a token resolved to (a principal, or null) is cached in an API keys namespace of the
 * AppConfigCache, never past a JWT's exp: that spares the hashing, the signature check and the key lookup
 * on every request. A revocation drops the scope on every instance.
 */
@Injectable()
export class BearerAuthenticator {
  /** What each token resolved to, keyed by the token. */
  private readonly resolved: ConfigNamespace<Principal | null>;

  constructor(
    private readonly keys: ApiKeyService,
    private readonly tokens: TokenService,
    cache: AppConfigCache,
  ) {
    this.resolved = cache.namespace('tokens', 'auth');
  }

  /**
   * True when `header` carries a cached token that has the scope: the hot path's way to skip a
   * promise. False means "ask authenticate()", not "refused".
   */
  isCachedWithScope(header: string | undefined, required: Scope): boolean {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    const principal = this.resolved.peek(header.slice(7));
    return principal != null && hasScope(principal, required);
  }

  /** `required` null: any valid token, whatever its scopes. */
  async authenticate(header: string | undefined, required: Scope | null): Promise<Principal> {
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw missingBearer();
    const principal = await this.resolve(match[1]!);
    if (!principal) throw ApiError.unauthenticated();
    if (required !== null && !hasScope(principal, required)) {
      throw missingScope(required);
    }
    return principal;
  }

  private resolve(token: string): Promise<Principal | null> {
    let until = Infinity;
    return this.resolved.get(
      token,
      async () => {
        if (!JWT_SHAPE.test(token)) return this.keys.verifySecret(token);
        const verified = await this.tokens.verify(token);
        if (!verified) return null;
        until = verified.expiresAt;
        return (await this.keys.isActive(verified.principal)) ? verified.principal : null;
      },
      () => until,
    );
  }
}
