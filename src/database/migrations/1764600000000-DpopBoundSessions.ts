import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * DPoP-bound sessions (RFC 9449): the SHA-256 JWK thumbprint (RFC 7638, 43 base64url characters)
 * of the key a session's login proved, or null for an unbound session. Every refresh of a bound
 * session must prove the same key.
 */
export class DpopBoundSessions1764600000000 implements MigrationInterface {
  name = 'DpopBoundSessions1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('sessions', new TableColumn({ name: 'dpop_jkt', type: 'varchar', length: '43', isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('sessions', 'dpop_jkt');
  }
}
