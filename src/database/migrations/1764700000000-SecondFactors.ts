import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

const id = (name: string, nullable = false) => ({ name, type: 'varchar', length: '36', isNullable: nullable });
const time = (name: string, nullable = false) => ({ name, type: 'bigint', isNullable: nullable });
const text = (name: string, length: number, nullable = true) => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = false) => ({ name, type: 'int', isNullable: nullable, default: nullable ? undefined : 0 });

/**
 * Second factors and passkeys (API v3).
 *
 * - `mfa_factors`: one row per TOTP authenticator or passkey. A TOTP secret is sealed at rest
 *   (AES-256-GCM under a key derived from KEY_ENCRYPTION_KEY, bound to the factor's id);
 *   `totp_last_step` is moved forward by compare-and-swap, so a code (or its step) works once.
 *   A pending TOTP factor has no `activated_at`. A passkey keeps its credential id (unique),
 *   COSE public key, sign count, transports and backup flags.
 * - `mfa_challenges`: the step between a correct password and the second factor. Only a MAC of
 *   its token is stored; it remembers what the login asked for, and is consumed by a
 *   conditional UPDATE (first one wins).
 * - `recovery_codes`: keyed hashes, each used once.
 * - `trusted_devices`: "remember this device", a MAC of its token, bound to user and device.
 * - `sessions` gain their assurance: `acr`, `amr`, `auth_time`, the chain generation at which
 *   it was last raised (an older link may never mint it), and whether the user must still
 *   enrol a factor (MFA_REQUIRED). Existing sessions were opened with a password: aal1, pwd.
 */
export class SecondFactors1764700000000 implements MigrationInterface {
  name = 'SecondFactors1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'mfa_factors',
        columns: [
          { ...id('id'), isPrimary: true },
          id('user_id'),
          text('type', 16, false),
          text('name', 100, false),
          time('created_at'),
          time('last_used_at', true),
          time('activated_at', true),
          { name: 'totp_secret', type: 'text', isNullable: true },
          { ...time('totp_last_step', true) },
          text('credential_id', 255),
          { name: 'public_key', type: 'text', isNullable: true },
          { name: 'sign_count', type: 'bigint', isNullable: true },
          text('transports', 255),
          { name: 'backup_eligible', type: 'boolean', isNullable: true },
          { name: 'backed_up', type: 'boolean', isNullable: true },
          text('aaguid', 36),
          int('consecutive_failures'),
          time('locked_at', true),
        ],
        indices: [
          new TableIndex({ name: 'IDX_mfa_factors_user', columnNames: ['user_id'] }),
          new TableIndex({ name: 'UQ_mfa_factors_credential', columnNames: ['credential_id'], isUnique: true }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'mfa_challenges',
        columns: [
          { ...id('id'), isPrimary: true },
          text('token_mac', 64, false),
          id('user_id'),
          time('created_at'),
          time('expires_at'),
          time('used_at', true),
          int('failures'),
          text('device_id', 64),
          text('device_name', 100),
          { name: 'use_cookie', type: 'boolean', default: false },
          text('dpop_jkt', 43),
          text('ip', 64),
          text('user_agent', 512),
          { name: 'webauthn_challenge', type: 'text', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'IDX_mfa_challenges_user', columnNames: ['user_id'] }),
          new TableIndex({ name: 'IDX_mfa_challenges_expires', columnNames: ['expires_at'] }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'recovery_codes',
        columns: [{ ...id('id'), isPrimary: true }, id('user_id'), text('code_hash', 64, false), time('created_at'), time('used_at', true)],
        indices: [new TableIndex({ name: 'IDX_recovery_codes_user', columnNames: ['user_id', 'code_hash'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'trusted_devices',
        columns: [
          { ...id('id'), isPrimary: true },
          id('user_id'),
          text('device_id', 64, false),
          text('token_mac', 64, false),
          time('created_at'),
          time('expires_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_trusted_devices_user_device', columnNames: ['user_id', 'device_id'] })],
      }),
    );

    await queryRunner.addColumns('sessions', [
      new TableColumn({ name: 'acr', type: 'varchar', length: '8', default: "'aal1'" }),
      new TableColumn({ name: 'amr', type: 'varchar', length: '64', default: "'pwd'" }),
      new TableColumn(time('auth_time', true)),
      new TableColumn({ name: 'assurance_generation', type: 'int', default: 0 }),
      new TableColumn({ name: 'mfa_enrollment_required', type: 'boolean', default: false }),
    ]);
    await queryRunner.query('UPDATE sessions SET auth_time = created_at WHERE auth_time IS NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const column of ['mfa_enrollment_required', 'assurance_generation', 'auth_time', 'amr', 'acr']) await queryRunner.dropColumn('sessions', column);
    await queryRunner.dropTable('trusted_devices');
    await queryRunner.dropTable('recovery_codes');
    await queryRunner.dropTable('mfa_challenges');
    await queryRunner.dropTable('mfa_factors');
  }
}
