import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * `sessions.revoked_at` lost its own index. Nothing reads by it any more (the registry and the
 * feed read `session_revocations`; housekeeping's OR with the unindexed `idle_expires_at` scans
 * anyway), and MariaDB chose it over the primary key for `WHERE id = ? AND revoked_at IS NULL`,
 * which is every rotation and every revocation: a secondary-index range with a buffered update
 * on the hot path, and one more index written per revocation.
 */
export class DropSessionsRevokedAtIndex1764500000000 implements MigrationInterface {
  name = 'DropSessionsRevokedAtIndex1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sessions', 'IDX_sessions_revoked_at');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('sessions', new TableIndex({ name: 'IDX_sessions_revoked_at', columnNames: ['revoked_at'] }));
  }
}
