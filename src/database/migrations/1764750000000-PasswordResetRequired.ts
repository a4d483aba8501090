import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * "This wasn't me": from a report until the account's password is replaced, a sign-in with the
 * password is refused (the intruder who reported nothing knows it). Null: no reset is owed.
 */
export class PasswordResetRequired1764750000000 implements MigrationInterface {
  name = 'PasswordResetRequired1764750000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('users', new TableColumn({ name: 'password_reset_required_at', type: 'bigint', isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('users', 'password_reset_required_at');
  }
}
