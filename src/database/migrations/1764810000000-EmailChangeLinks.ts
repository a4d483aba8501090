import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * E-mail change: the address a confirmation (or revert) link moves the account to travels on the
 * link's row, so an unconfirmed change leaves the user row as it was. Null for other links.
 */
export class EmailChangeLinks1764810000000 implements MigrationInterface {
  name = 'EmailChangeLinks1764810000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('account_links', new TableColumn({ name: 'email', type: 'varchar', length: '320', isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('account_links', 'email');
  }
}
