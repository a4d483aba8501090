import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/** A transaction InnoDB rolled back as a deadlock victim is run again, at most this many times in all. */
const MAX_DEADLOCK_ATTEMPTS = 4;

/** A connection-bound handle: the transaction's manager, or the data source's default one. */
export type Db = EntityManager;

/**
 * Raw statements and transactions for the code paths where the query builder costs too much
 * (DESIGN.md: 25–65% on the refresh path). Parameters are always bound, never interpolated.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown {
  readonly sqlite: boolean;
  private sqliteTail: Promise<unknown> = Promise.resolve();
  private readonly inSqliteTransaction = new AsyncLocalStorage<boolean>();

  constructor(@Inject(DataSource) readonly dataSource: DataSource) {
    this.sqlite = dataSource.options.type === 'better-sqlite3';
  }

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  /** Runs a statement and returns the number of rows it changed. */
  async exec(sql: string, params: unknown[], db: Db = this.manager): Promise<number> {
    if (db.queryRunner) {
      const result = await db.queryRunner.query(sql, params, true);
      return result.affected ?? 0;
    }
    const runner = this.dataSource.createQueryRunner();
    try {
      const result = await runner.query(sql, params, true);
      return result.affected ?? 0;
    } finally {
      await runner.release();
    }
  }

  async rows<T>(sql: string, params: unknown[], db: Db = this.manager): Promise<T[]> {
    return db.query(sql, params);
  }

  /**
   * One transaction. SQLite has one connection that TypeORM shares between all callers, so
   * concurrent transactions there would nest into each other's savepoints; they are queued
   * instead. MySQL transactions each get their own pooled connection.
   */
  async transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    if (!this.sqlite) {
      // READ COMMITTED: locking reads take no gap locks. Under REPEATABLE READ, concurrent logins
      // of *different* users deadlocked on the gap at the end of IDX_sessions_user_revoked (the
      // device-relogin SELECT ... FOR UPDATE against the next user's INSERT; bench/logins.ts).
      // What must be serialised is serialised by row locks (the user row, the sessions in scope).
      // A deadlock victim is rolled back whole by InnoDB; work functions only touch the database,
      // so it is run again, a bounded number of times.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.dataSource.transaction('READ COMMITTED', work);
        } catch (error) {
          const code = (error as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (error as { code?: string }).code;
          if (code !== 'ER_LOCK_DEADLOCK' || attempt >= MAX_DEADLOCK_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        }
      }
    }
    // A transaction started from inside another would wait for itself forever: fail loudly instead.
    if (this.inSqliteTransaction.getStore()) throw new Error('nested DatabaseService.transaction(): pass the outer db instead');
    const run = this.sqliteTail.then(() => this.inSqliteTransaction.run(true, () => this.dataSource.transaction(work)));
    this.sqliteTail = run.catch(() => undefined);
    return run;
  }

  /** Cheap round trip for readiness checks. */
  async ping(timeoutMs = 2000): Promise<void> {
    if (!this.dataSource.isInitialized) throw new Error('database is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs);
    });
    try {
      await Promise.race([this.dataSource.query('SELECT 1'), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
