import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * `keys:revoke <kid>`: a signing key taken out of service at once (a suspected compromise),
 * as opposed to retired (it keeps verifying until its tokens have expired).
 */
export class SigningKeyRevocation1764300000000 implements MigrationInterface {
  name = 'SigningKeyRevocation1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('signing_keys', new TableColumn({ name: 'revoked_at', type: 'bigint', isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('signing_keys', 'revoked_at');
  }
}
