import { Injectable, OnModuleInit } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { HashingPool } from './hashing-pool';
import { inSpan } from '../common/spans';

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1). Hashing runs on libuv's thread pool. */
export const ARGON2_OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** The span attributes of one hash: the algorithm and its cost, never the input. */
const HASH_ATTRIBUTES = {
  'latchkey.hash.algorithm': 'argon2id',
  'latchkey.hash.memory_kib': ARGON2_OPTIONS.memoryCost,
  'latchkey.hash.time_cost': ARGON2_OPTIONS.timeCost,
};

/**
 * Unicode passwords are compared in NFC so that the same password typed on two keyboards
 * (precomposed é vs e + combining accent) is the same password.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** argon2id hashing and verification, through the bounded HashingPool. */
@Injectable()
export class PasswordService implements OnModuleInit {
  private dummyHash = '';

  constructor(private readonly pool: HashingPool) {}

  async onModuleInit(): Promise<void> {
    // Compared against when the e-mail is unknown, so both failures cost one full verify.
    this.dummyHash = await hash('latchkey-dummy-password', ARGON2_OPTIONS);
  }

  hash(password: string, gone?: AbortSignal): Promise<string> {
    return this.pool.run(() => inSpan('argon2id hash', { attributes: HASH_ATTRIBUTES }, () => hash(normalizePassword(password), ARGON2_OPTIONS)), gone);
  }

  /**
   * Verifies against the stored hash, or against a dummy one when there is no user.
   * `admit` runs once a hashing slot is granted, just before the hash (the e-mail lockout counts
   * the attempt there): a request shed by a full queue (503) has then spent nothing.
   */
  async verify(
    storedHash: string | null | undefined,
    password: string,
    admit: () => Promise<void> = async () => undefined,
    gone?: AbortSignal,
  ): Promise<boolean> {
    const target = storedHash ?? this.dummyHash;
    const ok = await this.pool.run(async () => {
      await admit();
      // A malformed stored hash verifies nothing.
      return inSpan('argon2id verify', { attributes: HASH_ATTRIBUTES }, () => verify(target, normalizePassword(password)).catch(() => false));
    }, gone);
    return ok && storedHash != null;
  }
}
