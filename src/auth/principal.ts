import { Scope } from './api-key.entity.js';

/** Who is calling, as resolved by the auth guard. */
export interface Principal {
  /** API key id, or "admin" for ADMIN_API_KEY. */
  keyId: string;
  scopes: readonly Scope[];
  /** For the bootstrap admin: a fingerprint of ADMIN_API_KEY, so that rotating it ends its tokens. */
  keyFingerprint?: string;
}

export function hasScope(p: Principal, scope: Scope): boolean {
  return p.scopes.includes(Scope.ADMIN) || p.scopes.includes(scope);
}
