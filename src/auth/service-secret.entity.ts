import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Secrets the service generates for itself (e.g. its token-signing key), shared by all instances. */
@Entity({ name: 'service_secrets' })
export class ServiceSecretEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'text' })
  value: string;

  @CreateDateColumn({ type: 'timestamptz' })
  created_at: Date;
}
