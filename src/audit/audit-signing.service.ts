import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { DataSource } from 'typeorm';
import { AppConfig, ed25519KeyProblem } from '../config/app-config.js';
import { keyIdOf } from './domain/checkpoint.js';

/** service_secrets.name of the generated signing key (PKCS#8 DER, base64). */
const SECRET_NAME = 'audit_signing_key';

/** The service's Ed25519 key as the API shows it. */
export interface SigningKeyView {
  key_id: string;
  algorithm: 'Ed25519';
  /** The raw 32-byte public key, base64. */
  public_key: string;
  public_key_pem: string;
  source: 'AUDIT_SIGNING_KEY' | 'generated';
}

/** An Ed25519 private key as PKCS#8 PEM or base64 DER (checked by loadConfig: ed25519KeyProblem). */
export function parseSigningKey(text: string): KeyObject {
  const problem = ed25519KeyProblem(text);
  if (problem) throw new Error(`audit signing key: ${problem}`);
  return text.includes('-----BEGIN')
    ? createPrivateKey(text)
    : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
}

/**
 * The Ed25519 key that signs audit checkpoints: AUDIT_SIGNING_KEY, or else one generated at the
 * first boot and kept in the database (service_secrets), so that every instance signs with the
 * same key. Its id is derived from the public key (keyIdOf).
 */
@Injectable()
export class AuditSigningService implements OnApplicationBootstrap {
  private readonly logger = new Logger('AuditSigning');
  private privateKey?: KeyObject;
  private view?: SigningKeyView;
  private raw?: Buffer;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    let source: SigningKeyView['source'] = 'AUDIT_SIGNING_KEY';
    if (this.config.AUDIT_SIGNING_KEY) {
      this.privateKey = parseSigningKey(this.config.AUDIT_SIGNING_KEY);
    } else {
      source = 'generated';
      const generated = generateKeyPairSync('ed25519').privateKey.export({
        format: 'der',
        type: 'pkcs8',
      });
      await this.dataSource.query(
        `INSERT INTO service_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
        [SECRET_NAME, generated.toString('base64')],
      );
      const rows: { value: string }[] = await this.dataSource.query(
        `SELECT value FROM service_secrets WHERE name = $1`,
        [SECRET_NAME],
      );
      this.privateKey = parseSigningKey(rows[0]!.value);
    }
    const publicKey = createPublicKey(this.privateKey);
    const jwk = publicKey.export({ format: 'jwk' });
    this.raw = Buffer.from(jwk.x!, 'base64url');
    this.view = {
      key_id: keyIdOf(this.raw),
      algorithm: 'Ed25519',
      public_key: this.raw.toString('base64'),
      public_key_pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      source,
    };
    this.logger.log(
      `audit checkpoints are signed with Ed25519 key ${this.view.key_id} (${source})`,
    );
  }

  key(): SigningKeyView {
    if (!this.view) throw new Error('the audit signing key is not loaded yet');
    return this.view;
  }

  rawPublicKey(): Buffer {
    this.key();
    return this.raw!;
  }

  sign(text: string): Buffer {
    this.key();
    return sign(null, Buffer.from(text, 'utf8'), this.privateKey!);
  }
}
