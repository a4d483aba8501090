import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { driverCode } from '../common/database-errors';

/** A transaction that lost a deadlock or a Galera certification is run again, at most this many times in all. */
const MAX_ATTEMPTS = 5;
/** ER_LOCK_DEADLOCK (also Galera's certification failure at COMMIT) and ER_LOCK_WAIT_TIMEOUT. */
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** A connection-bound handle: the transaction's manager, or the data source's default one. */
export type Db = EntityManager;

/**
 * Raw statements and transactions for the code paths where the query builder costs too much
 * (the refresh path). Parameters are always bound, never interpolated.
 *
 * Work that must happen only once a transaction has committed (announcing revocations) is
 * registered with `afterCommit(db, …)`: it runs after COMMIT, and never after a rollback.
 */
@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  readonly sqlite: boolean;
  private readonly logger = new Logger('Database');
  private sqliteTail: Promise<unknown> = Promise.resolve();
  private readonly inSqliteTransaction = new AsyncLocalStorage<boolean>();
  private readonly commitHooks = new WeakMap<EntityManager, Array<() => void>>();

  /**
   * Prepended to a read that must see every write committed before it on any node. On a
   * Galera cluster a node may answer before it has applied another node's commit
   * (wsrep_sync_wait=0, the default); this makes that one statement wait. Empty elsewhere:
   * a single server, or a primary, is causal already.
   */
  causalPrefix = '';

  constructor(@Inject(DataSource) readonly dataSource: DataSource) {
    this.sqlite = dataSource.options.type === 'better-sqlite3';
  }

  async onModuleInit(): Promise<void> {
    if (this.sqlite) return;
    const rows = await this.dataSource.query('SELECT @@wsrep_on AS wsrep_on').catch(() => [] as Array<{ wsrep_on?: unknown }>);
    if (Number(rows[0]?.wsrep_on) === 1) {
      this.causalPrefix = 'SET STATEMENT wsrep_sync_wait=1 FOR ';
      this.logger.log('Galera cluster detected (wsrep_on): refresh confirmations read with wsrep_sync_wait=1');
    }
  }

  get galera(): boolean {
    return this.causalPrefix !== '';
  }

  /**
   * Runs `work` on a connection whose reads are causal (wsrep_sync_wait=1) on Galera; on the
   * default manager elsewhere. For the few reads that go through the entity manager rather than
   * a raw statement (which would take causalPrefix).
   */
  async causally<T>(work: (db: Db) => Promise<T>): Promise<T> {
    if (!this.galera) return work(this.manager);
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.query('SET SESSION wsrep_sync_wait = 1');
      try {
        return await work(runner.manager);
      } finally {
        await runner.query('SET SESSION wsrep_sync_wait = 0');
      }
    } finally {
      await runner.release();
    }
  }

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  /**
   * ` FOR UPDATE` on MySQL: a locking read for the enclosing transaction. SQLite has no row
   * locks and needs none: its transactions are queued (see transaction()).
   */
  get forUpdate(): string {
    return this.sqlite ? '' : ' FOR UPDATE';
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

  /** Joins the caller's transaction when one is given, or runs `work` in a transaction of its own. */
  within<T>(db: Db | undefined, work: (db: Db) => Promise<T>): Promise<T> {
    return db ? work(db) : this.transaction(work);
  }

  /**
   * Runs `hook` once the transaction of `db` has committed; dropped if it rolls back (or is
   * retried: each attempt registers its own). Outside a transaction there is nothing to wait
   * for, and that is a mistake in the caller.
   */
  afterCommit(db: Db, hook: () => void): void {
    const hooks = this.commitHooks.get(db);
    if (!hooks) throw new Error('afterCommit() needs the db of a DatabaseService.transaction()');
    hooks.push(hook);
  }

  /**
   * One transaction. SQLite has one connection that TypeORM shares between all callers, so
   * concurrent transactions there would nest into each other's savepoints; they are queued
   * instead. MySQL transactions each get their own pooled connection.
   */
  async transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    let hooks: Array<() => void> = [];
    const tracked = async (db: Db): Promise<T> => {
      hooks = [];
      this.commitHooks.set(db, hooks);
      return work(db);
    };
    const result = this.sqlite ? await this.sqliteTransaction(tracked) : await this.mysqlTransaction(tracked);
    for (const hook of hooks) {
      try {
        hook();
      } catch (error) {
        this.logger.error(`after-commit hook failed: ${(error as Error).message}`);
      }
    }
    return result;
  }

  private async mysqlTransaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    // READ COMMITTED: locking reads take no gap locks. Under REPEATABLE READ, concurrent logins
    // of *different* users deadlocked on the gap at the end of IDX_sessions_user_revoked (the
    // device-relogin SELECT ... FOR UPDATE against the next user's INSERT; bench/logins.ts).
    // What must be serialised is serialised by row locks (the user row, the sessions in scope).
    // A deadlock victim, or a Galera write set that failed certification at COMMIT (also 1213),
    // is rolled back whole; work functions only touch the database, so it is run again after a
    // jittered, growing pause, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('READ COMMITTED', work);
      } catch (error) {
        const code = driverCode(error);
        if (!code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** attempt));
      }
    }
  }

  private sqliteTransaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
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
