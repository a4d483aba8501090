import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../database/columns';

/**
 * Access-token signing keys, shared by every instance through the database. The private
 * part is sealed with AES-256-GCM under KEY_ENCRYPTION_KEY.
 */
@Entity('signing_keys')
export class SigningKey {
  /** RFC 7638 JWK thumbprint of the public key. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  kid: string;

  @Column({ type: 'varchar', length: 16 })
  alg: string;

  /** Public JWK, JSON. */
  @Column({ name: 'public_key', type: 'text' })
  publicKey: string;

  /** base64url(iv ‖ tag ‖ ciphertext of the PKCS#8 DER private key). */
  @Column({ name: 'private_key', type: 'text' })
  privateKey: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt: number;

  /** When a newer key took over signing; the key stays in the JWKS one access-token lifetime longer. */
  @Column({ name: 'retired_at', type: 'bigint', nullable: true, transformer: epochMs })
  retiredAt: number | null;

  /** When it was revoked (keys:revoke): out of the JWKS and of verification at once, everywhere. */
  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: epochMs })
  revokedAt: number | null;
}
