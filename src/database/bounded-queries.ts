import { Logger } from '@nestjs/common';
import { AfterQueryEvent, EntitySubscriberInterface, EventSubscriber, Logger as TypeOrmLogger } from 'typeorm';

/**
 * mysql2's per-statement timeout (enableQueryTimeout) fails the statement but keeps its
 * connection, which still waits for the answer: every later statement on that connection would
 * queue behind it, unbounded. A connection whose statement timed out is therefore destroyed,
 * which also takes it out of the pool; the pool opens a fresh one when the database is back.
 */
@EventSubscriber()
export class DropTimedOutConnections implements EntitySubscriberInterface {
  afterQuery(event: AfterQueryEvent): void {
    if ((event.error as { code?: string } | undefined)?.code !== 'PROTOCOL_SEQUENCE_TIMEOUT') return;
    const connection = (event.queryRunner as unknown as { databaseConnection?: { destroy(): void } }).databaseConnection;
    connection?.destroy();
  }
}

/**
 * TypeORM's logger with `logging: false` still prints slow statements to the console, with
 * their parameters (an e-mail address, a password hash). This one reports a slow statement
 * through the application log, without parameters, and is otherwise silent.
 */
export class StatementLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');
  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow statement (${time} ms): ${query.slice(0, 200)}`);
  }
  logQuery(): void {}
  logQueryError(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
