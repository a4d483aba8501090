import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * E-mail identity is the normalised string itself (trimmed, lower-cased), compared byte for
 * byte, in both dialects. MariaDB's utf8mb4_unicode_ci would otherwise treat `é` and `e`,
 * and an address with zero-width characters inserted and one without, as the same address:
 * a login could then reach an account under many spellings, each with its own LOGIN_LOCKOUT
 * counter, and so brute-force past the lockout. SQLite already compares with BINARY.
 */
export class EmailExactCollation1764100000000 implements MigrationInterface {
  name = 'EmailExactCollation1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'mysql' && queryRunner.connection.options.type !== 'mariadb') return;
    await queryRunner.query('ALTER TABLE `users` MODIFY `email` VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'mysql' && queryRunner.connection.options.type !== 'mariadb') return;
    await queryRunner.query('ALTER TABLE `users` MODIFY `email` VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL');
  }
}
