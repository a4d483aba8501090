import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * Account deletion erases the personal data of the events a user caused (actor_id) as well as
 * of those about them (user_id, indexed already): without this index that is a scan of the
 * whole log, inside the deletion's transaction.
 */
export class AuditActorIndex1764820000000 implements MigrationInterface {
  name = 'AuditActorIndex1764820000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('audit_events', new TableIndex({ name: 'IDX_audit_actor', columnNames: ['actor_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('audit_events', 'IDX_audit_actor');
  }
}
