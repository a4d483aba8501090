import { Injectable, OnModuleInit } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1). Hashing runs on libuv's thread pool. */
export const ARGON2_OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/**
 * Unicode passwords are compared in NFC so that the same password typed on two keyboards
 * (precomposed é vs e + combining accent) is the same password.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** The policy, checked before any hashing so that a huge input cannot buy CPU time. */
export function passwordPolicyError(password: unknown): string | null {
  if (typeof password !== 'string') return 'password must be a string';
  if (password.length > PASSWORD_MAX * 2) return `password must be at most ${PASSWORD_MAX} characters`;
  const length = [...password].length;
  if (length < PASSWORD_MIN) return `password must be at least ${PASSWORD_MIN} characters`;
  if (length > PASSWORD_MAX) return `password must be at most ${PASSWORD_MAX} characters`;
  if (password.trim().length === 0) return 'password must not be only white space';
  return null;
}

@Injectable()
export class PasswordService implements OnModuleInit {
  private dummyHash = '';

  async onModuleInit(): Promise<void> {
    // Compared against when the e-mail is unknown, so both failures cost one full verify.
    this.dummyHash = await hash('latchkey-dummy-password', ARGON2_OPTIONS);
  }

  hash(password: string): Promise<string> {
    return hash(normalizePassword(password), ARGON2_OPTIONS);
  }

  /** Verifies against the stored hash, or against a dummy one when there is no user. */
  async verify(storedHash: string | null | undefined, password: string): Promise<boolean> {
    const target = storedHash ?? this.dummyHash;
    let ok = false;
    try {
      ok = await verify(target, normalizePassword(password));
    } catch {
      ok = false;
    }
    return ok && storedHash != null;
  }
}
