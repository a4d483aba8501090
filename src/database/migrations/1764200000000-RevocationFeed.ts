import { randomBytes } from 'node:crypto';
import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

const id = (name: string, nullable = false) => ({ name, type: 'varchar', length: '36', isNullable: nullable });
const time = (name: string, nullable = false) => ({ name, type: 'bigint', isNullable: nullable });

/**
 * The session revocation feed for resource servers, and their credentials.
 *
 * `session_revocations` is an append-only log, one row per revoked session, written in the
 * revoking transaction. Its `seq` is not assigned there: it is assigned after commit, by one
 * sequencing transaction at a time (`revocation_sequence` is their lock and counter), so the
 * order of `seq` is the order in which revocations became visible (see
 * sessions/revocation-log.ts for why no reader can ever skip one).
 */
export class RevocationFeed1764200000000 implements MigrationInterface {
  name = 'RevocationFeed1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'session_revocations',
        columns: [
          // A session is revoked once (revoked_at IS NULL guards every revocation): one row each.
          { ...id('session_id'), isPrimary: true },
          id('user_id'),
          { name: 'reason', type: 'varchar', length: '32' },
          time('revoked_at'),
          time('seq', true),
        ],
        indices: [
          new TableIndex({ name: 'UQ_session_revocations_seq', columnNames: ['seq'], isUnique: true }),
          // The sequencer's scan: rows not yet sequenced (seq IS NULL), oldest first.
          new TableIndex({ name: 'IDX_session_revocations_unsequenced', columnNames: ['seq', 'revoked_at', 'session_id'] }),
          // A receiver's first read (the last access-token lifetime) and housekeeping.
          new TableIndex({ name: 'IDX_session_revocations_revoked_at', columnNames: ['revoked_at'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'revocation_sequence',
        columns: [
          { name: 'id', type: 'int', isPrimary: true },
          // Changes only if the log starts over (a new database): cursors from before are then refused as stale.
          { name: 'epoch', type: 'varchar', length: '16' },
          { name: 'last_seq', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.query('INSERT INTO revocation_sequence (id, epoch, last_seq) VALUES (1, ?, 0)', [randomBytes(6).toString('base64url')]);
    // Revocations made before this migration that can still matter join the log (and get their
    // positions from the first sequencing), so a restarted instance's registry still has them.
    await queryRunner.query(
      `INSERT INTO session_revocations (session_id, user_id, reason, revoked_at)
       SELECT id, user_id, revoked_reason, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at > ?`,
      [Date.now() - 86_400_000],
    );

    await queryRunner.createTable(
      new Table({
        name: 'resource_servers',
        columns: [
          { name: 'client_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          // HMAC-SHA256 of the secret under a key derived from KEY_ENCRYPTION_KEY (base64url).
          { name: 'secret_hash', type: 'varchar', length: '64' },
          time('created_at'),
          id('created_by', true),
        ],
        indices: [new TableIndex({ name: 'IDX_resource_servers_created', columnNames: ['created_at'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('resource_servers');
    await queryRunner.dropTable('revocation_sequence');
    await queryRunner.dropTable('session_revocations');
  }
}
