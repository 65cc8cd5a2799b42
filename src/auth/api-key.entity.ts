import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export enum Scope {
  READ = 'read',
  WRITE = 'write',
  ADMIN = 'admin',
}

@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: Scope[];

  /** SHA-256 (hex) of the secret; the secret itself is never stored. */
  @Column({ type: 'char', length: 64, unique: true })
  secret_hash: string;

  @Column({ type: 'varchar', length: 128 })
  created_by: string;

  @CreateDateColumn({ type: 'timestamptz' })
  created_at: Date;

  @Column({ type: 'timestamptz', nullable: true })
  revoked_at: Date | null;
}
