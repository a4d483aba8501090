import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

const id = (name: string, nullable = false) => ({ name, type: 'varchar', length: '36', isNullable: nullable });
const time = (name: string, nullable = false) => ({ name, type: 'bigint', isNullable: nullable });

/**
 * Written with TypeORM's dialect-neutral schema API so that one migration serves
 * MySQL/MariaDB and SQLite. Times are epoch milliseconds (see database/columns.ts).
 */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'users',
        columns: [
          { ...id('id'), isPrimary: true },
          { name: 'email', type: 'varchar', length: '320' },
          { name: 'name', type: 'varchar', length: '200', isNullable: true },
          { name: 'password_hash', type: 'varchar', length: '255' },
          { name: 'role', type: 'varchar', length: '16', default: "'user'" },
          time('disabled_at', true),
          time('password_changed_at', true),
          time('created_at'),
          time('updated_at'),
          time('last_login_at', true),
        ],
        indices: [
          new TableIndex({ name: 'UQ_users_email', columnNames: ['email'], isUnique: true }),
          // Keyset pagination of the admin list walks (created_at, id).
          new TableIndex({ name: 'IDX_users_created', columnNames: ['created_at', 'id'] }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'sessions',
        columns: [
          { ...id('id'), isPrimary: true },
          id('user_id'),
          { name: 'device_id', type: 'varchar', length: '64' },
          { name: 'device_name', type: 'varchar', length: '100', isNullable: true },
          { name: 'user_agent', type: 'varchar', length: '512', isNullable: true },
          { name: 'ip', type: 'varchar', length: '64', isNullable: true },
          time('created_at'),
          time('last_used_at'),
          time('expires_at'),
          time('idle_expires_at'),
          { name: 'generation', type: 'int', default: 0 },
          time('rotated_at', true),
          { name: 'salt', type: 'varchar', length: '64' },
          time('revoked_at', true),
          { name: 'revoked_reason', type: 'varchar', length: '32', isNullable: true },
        ],
        indices: [
          // A user's active sessions (device list, limit, revoke-all) and device relogin.
          new TableIndex({ name: 'IDX_sessions_user_revoked', columnNames: ['user_id', 'revoked_at'] }),
          new TableIndex({ name: 'IDX_sessions_user_device', columnNames: ['user_id', 'device_id'] }),
          // Revocation polling and the registry refill at start scan recent revocations.
          new TableIndex({ name: 'IDX_sessions_revoked_at', columnNames: ['revoked_at'] }),
          // Housekeeping finds expired rows.
          new TableIndex({ name: 'IDX_sessions_expires_at', columnNames: ['expires_at'] }),
        ],
        foreignKeys: [{ columnNames: ['user_id'], referencedTableName: 'users', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'audit_events',
        columns: [
          { ...id('id'), isPrimary: true },
          { name: 'type', type: 'varchar', length: '32' },
          id('user_id', true),
          id('session_id', true),
          id('actor_id', true),
          { name: 'ip', type: 'varchar', length: '64', isNullable: true },
          { name: 'user_agent', type: 'varchar', length: '512', isNullable: true },
          { name: 'details', type: 'text', isNullable: true },
          time('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'IDX_audit_created', columnNames: ['created_at', 'id'] }),
          new TableIndex({ name: 'IDX_audit_user_created', columnNames: ['user_id', 'created_at', 'id'] }),
          new TableIndex({ name: 'IDX_audit_type_created', columnNames: ['type', 'created_at', 'id'] }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'signing_keys',
        columns: [
          { name: 'kid', type: 'varchar', length: '64', isPrimary: true },
          { name: 'alg', type: 'varchar', length: '16' },
          { name: 'public_key', type: 'text' },
          { name: 'private_key', type: 'text' },
          time('created_at'),
          time('retired_at', true),
        ],
        indices: [new TableIndex({ name: 'IDX_signing_keys_created', columnNames: ['created_at'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('signing_keys');
    await queryRunner.dropTable('audit_events');
    await queryRunner.dropTable('sessions');
    await queryRunner.dropTable('users');
  }
}
