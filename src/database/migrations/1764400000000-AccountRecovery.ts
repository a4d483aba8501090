import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

const id = (name: string, nullable = false) => ({ name, type: 'varchar', length: '36', isNullable: nullable });
const time = (name: string, nullable = false) => ({ name, type: 'bigint', isNullable: nullable });

/**
 * Account recovery and e-mail (API v2).
 *
 * `account_links` holds the one-time links latchkey mails (password reset, e-mail
 * verification, "this wasn't me"). It stores no token and no hash of one: a link's token is its
 * id and a MAC of it under a key derived from KEY_ENCRYPTION_KEY, so the table alone yields
 * nothing usable, and redeeming is a conditional UPDATE (first one wins).
 *
 * `mail_outbox` is the transactional outbox: a row per mail to send, written in the
 * transaction of whatever warrants it, delivered by every instance's sender under a lease.
 */
export class AccountRecovery1764400000000 implements MigrationInterface {
  name = 'AccountRecovery1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Accounts from before this release count as unverified; only an operator who turns
    // REQUIRE_EMAIL_VERIFICATION on will see the difference (their next login sends a link).
    await queryRunner.addColumn('users', new TableColumn(time('email_verified_at', true)));

    await queryRunner.createTable(
      new Table({
        name: 'account_links',
        columns: [
          { ...id('id'), isPrimary: true },
          id('user_id'),
          { name: 'purpose', type: 'varchar', length: '32' },
          // The session a "this wasn't me" link is about.
          id('session_id', true),
          time('created_at'),
          time('expires_at'),
          time('used_at', true),
          time('superseded_at', true),
        ],
        indices: [
          // "Only the newest works" and the per-account mail limit: a user's links of one purpose, newest last.
          new TableIndex({ name: 'IDX_account_links_user_purpose', columnNames: ['user_id', 'purpose', 'created_at'] }),
          new TableIndex({ name: 'IDX_account_links_expires', columnNames: ['expires_at'] }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'mail_outbox',
        columns: [
          { ...id('id'), isPrimary: true },
          { name: 'kind', type: 'varchar', length: '32' },
          id('user_id', true),
          { name: 'data', type: 'text', isNullable: true },
          id('ref', true),
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'int' },
          time('next_attempt_at'),
          id('claimed_by', true),
          time('claimed_until', true),
          time('created_at'),
          time('finished_at', true),
          { name: 'message_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'last_error', type: 'varchar', length: '255', isNullable: true },
        ],
        indices: [
          // Every sender's poll: pending messages by when they are due.
          new TableIndex({ name: 'IDX_mail_outbox_due', columnNames: ['state', 'next_attempt_at'] }),
          new TableIndex({ name: 'IDX_mail_outbox_finished', columnNames: ['finished_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('mail_outbox');
    await queryRunner.dropTable('account_links');
    await queryRunner.dropColumn('users', 'email_verified_at');
  }
}
