import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * WebAuthn challenges offered outside a login's second step (passkey registration, password-less
 * sign-in, step-up), each answered once within 5 minutes: the challenge itself is the key, and
 * consuming it deletes the row. Expired rows go with housekeeping.
 */
export class WebAuthnChallenges1764710000000 implements MigrationInterface {
  name = 'WebAuthnChallenges1764710000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'webauthn_challenges',
        columns: [
          { name: 'challenge', type: 'varchar', length: '64', isPrimary: true },
          { name: 'purpose', type: 'varchar', length: '16' },
          { name: 'user_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'session_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'expires_at', type: 'bigint' },
        ],
        indices: [new TableIndex({ name: 'IDX_webauthn_challenges_expires', columnNames: ['expires_at'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('webauthn_challenges');
  }
}
