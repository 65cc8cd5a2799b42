import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { API_KEYS_SCOPE, AppConfigCache } from '../config-cache/app-config-cache.js';
import { ApiKeyEntity, Scope } from './api-key.entity.js';
import {
  ApiKeyResponseDto,
  CreateApiKeyRequestDto,
  CreateApiKeyResponseDto,
} from './dto/api-key.dto.js';
import { Principal } from './principal.js';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * A new key row and its secret (not yet saved). The secret embeds the id so that it stands alone
 * as a bearer token; 32 random bytes. Only its SHA-256 is kept in the row.
 */
export function mintApiKey(
  repo: Repository<ApiKeyEntity>,
  name: string,
  scopes: readonly Scope[],
  createdBy: string,
): { entity: ApiKeyEntity; secret: string } {
  const id = newUlid();
  const secret = `cg_${id}_${randomBytes(32).toString('base64url')}`;
  const entity = repo.create({
    id,
    name,
    scopes: [...scopes].sort(),
    secret_hash: sha256(secret),
    created_by: createdBy,
    revoked_at: null,
  });
  return { entity, secret };
}

/**
 * Scoped API keys: minted by admins, secret shown once, stored as SHA-256. Lookups here are not
 * cached: BearerAuthenticator caches what it verified in the AppConfigCache, and a revocation
 * drops that on every instance.
 */
@Injectable()
export class ApiKeyService {
  private readonly adminHash?: Buffer;

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly repo: Repository<ApiKeyEntity>,
    private readonly cache: AppConfigCache,
    config: AppConfig,
  ) {
    if (config.ADMIN_API_KEY) this.adminHash = Buffer.from(sha256(config.ADMIN_API_KEY), 'hex');
  }

  async create(dto: CreateApiKeyRequestDto, by: Principal): Promise<CreateApiKeyResponseDto> {
    const { entity, secret } = mintApiKey(this.repo, dto.name, dto.scopes, by.keyId);
    const saved = await this.repo.save(entity);
    return { ...this.toDto(saved), key_secret: secret };
  }

  async list(): Promise<ApiKeyResponseDto[]> {
    const rows = await this.repo.find({ order: { created_at: 'ASC', id: 'ASC' } });
    return rows.map((r) => this.toDto(r));
  }

  async revoke(keyId: string): Promise<ApiKeyResponseDto> {
    const row = await this.repo.findOneBy({ id: keyId });
    if (!row) throw ApiError.notFound(`API key ${keyId} not found`);
    if (!row.revoked_at) {
      await this.cache.write(API_KEYS_SCOPE, (tx) =>
        tx
          .getRepository(ApiKeyEntity)
          .update({ id: keyId, revoked_at: IsNull() }, { revoked_at: new Date() }),
      );
    }
    const updated = await this.repo.findOneByOrFail({ id: keyId });
    return this.toDto(updated);
  }

  /** Resolves a raw key secret (or ADMIN_API_KEY) to a principal, or null. */
  async verifySecret(secret: string): Promise<Principal | null> {
    const hash = sha256(secret);
    if (this.adminHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.adminHash)) {
      return { keyId: 'admin', scopes: [Scope.ADMIN], keyFingerprint: this.adminFingerprint() };
    }
    const row = await this.repo.findOneBy({ secret_hash: hash });
    return row && !row.revoked_at ? { keyId: row.id, scopes: row.scopes } : null;
  }

  /** For OAuth2 client credentials: the key id must match the secret's key. */
  async verifyKeyPair(keyId: string, secret: string): Promise<Principal | null> {
    const principal = await this.verifySecret(secret);
    if (!principal) return null;
    if (principal.keyId === 'admin') return keyId === 'admin' ? principal : null;
    return principal.keyId === keyId ? principal : null;
  }

  private adminFingerprint(): string | undefined {
    return this.adminHash?.subarray(0, 8).toString('hex');
  }

  /**
   * True while the key behind a token exists and is not revoked; for the admin, while
   * ADMIN_API_KEY is still the key the token was minted from.
   */
  async isActive(p: Principal): Promise<boolean> {
    const keyId = p.keyId;
    if (keyId === 'admin') {
      return this.adminHash !== undefined && p.keyFingerprint === this.adminFingerprint();
    }
    const row = await this.repo.findOneBy({ id: keyId });
    return row !== null && !row.revoked_at;
  }

  private toDto(r: ApiKeyEntity): ApiKeyResponseDto {
    return {
      key_id: r.id,
      name: r.name,
      scopes: r.scopes,
      created_at: r.created_at.toISOString(),
      revoked_at: r.revoked_at ? r.revoked_at.toISOString() : null,
    };
  }
}
