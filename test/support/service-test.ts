import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mock, type Mock } from 'node:test';
import type { InjectionToken, Provider, Type } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { ApiError } from '../../src/common/api-error';
import { APP_CONFIG, AppConfig, loadConfig } from '../../src/config/config';
import { Clock } from '../../src/common/clock';
import { Db, DatabaseService } from '../../src/database/database.service';
import { FakeClock } from './clock';

/**
 * The service-test layer (test/service/): one service built by @nestjs/testing with every
 * dependency the test does not name replaced by a recording fake, no database, no network.
 * The model is immich's `newTestService`; here the runner is node:test, so a fake method is
 * node:test's `mock.fn()` (`calls(fn)`, `resolves(fn, value)`, `returns`, `act` below), and
 * where a rule depends on stored state the test passes in-memory repositories
 * (`memoryStore()` in test/support/service-fakes.ts).
 */

/** A method replaced by node:test's `mock.fn()`: still callable, and `.mock` records its calls. */
export type MockFn<F> = F extends (...args: never[]) => unknown ? Mock<F> : never;

/**
 * What `automock(Type)` hands back: every method a recording fake that answers `undefined`
 * until told otherwise; every other member (e.g. MetricsService's counters) an automock of its
 * own, so `metrics.logins.inc()` just records.
 */
export type Mocked<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? MockFn<T[K]> : Mocked<T[K]> };

/** Members never faked: `then` would make the fake look like a promise to `await`. */
const NOT_FAKED = new Set<PropertyKey>(['then', 'constructor', 'toJSON']);

function methodNames(type: Type<unknown> | undefined): Set<PropertyKey> {
  const names = new Set<PropertyKey>();
  for (let proto = type?.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (typeof descriptor.value === 'function' && name !== 'constructor') names.add(name);
    }
  }
  return names;
}

/**
 * A recording fake of a class: its methods (from the prototype chain) are `mock.fn()`s created
 * on first use; anything else is a nested fake whose members are all `mock.fn()`s.
 */
export function automock<T>(type?: Type<T>): Mocked<T> {
  const methods = methodNames(type);
  const members = new Map<PropertyKey, unknown>();
  return new Proxy({} as Mocked<T>, {
    get(_target, prop) {
      if (typeof prop === 'symbol' || NOT_FAKED.has(prop)) return undefined;
      if (!members.has(prop)) members.set(prop, type === undefined || methods.has(prop) ? mock.fn() : automock());
      return members.get(prop);
    },
    set(_target, prop, value) {
      members.set(prop, value);
      return true;
    },
  });
}

/** The arguments of every call so far, oldest first. */
export function calls<F extends (...args: never[]) => unknown>(fn: F): Array<Parameters<F>> {
  return (fn as unknown as Mock<F>).mock.calls.map((c) => c.arguments as Parameters<F>);
}

/** From now on the fake returns `value` (mockReturnValue). */
export function returns<F extends (...args: never[]) => unknown>(fn: Mock<F>, value: ReturnType<F>): void {
  fn.mock.mockImplementation((() => value) as unknown as F);
}

/** From now on the fake returns a promise of `value` (mockResolvedValue). */
export function resolves<F extends (...args: never[]) => unknown>(fn: Mock<F>, value: Awaited<ReturnType<F>>): void {
  fn.mock.mockImplementation((() => Promise.resolve(value)) as unknown as F);
}

/** From now on the fake runs `implementation` (mockImplementation). */
export function act<F extends (...args: never[]) => unknown>(fn: Mock<F>, implementation: (...args: Parameters<F>) => ReturnType<F>): void {
  fn.mock.mockImplementation(implementation as unknown as F);
}

/** The ApiError a service call failed with (its `code`, `statusCode`, `body()`), or an assertion failure when it did not fail so. */
export async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`expected an ApiError, the call succeeded with ${JSON.stringify(outcome)}`);
}

/** What a service may do with state that lives "in the database": snapshot it, and put it back on rollback. */
export interface Transactional {
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

/**
 * DatabaseService without a database: `transaction` runs the work with a fake Db, runs the
 * after-commit hooks only once the work has succeeded, and on a throw puts every registered
 * in-memory table back as it was (a rollback). The fake Db refuses SQL loudly: a real
 * repository reached in a service test is a mistake in the test, not a query to answer.
 */
export class FakeDatabase {
  readonly sqlite = true;
  readonly causalPrefix = '';
  readonly galera = false;
  readonly forUpdate = '';
  private readonly hooks = new Map<Db, Array<() => void>>();
  private readonly inTransaction = new AsyncLocalStorage<boolean>();
  private tail: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  readonly manager: Db = FakeDatabase.db('manager');

  constructor(private readonly tables: Transactional[] = []) {}

  private static db(name: string): Db {
    const target: Record<PropertyKey, unknown> = { name };
    return new Proxy(target, {
      get(target, prop) {
        if (prop === 'name' || prop === 'then' || typeof prop === 'symbol') return target[prop];
        throw new Error(
          `service tests have no database: Db.${String(prop)} was called on the ${name} (a real repository is in the module; pass an in-memory one)`,
        );
      },
    }) as unknown as Db;
  }

  /**
   * Transactions run one at a time, as on SQLite (so a rollback cannot undo another one's
   * writes); one started inside another fails, as there. The after-commit hooks run once it
   * has committed, outside it.
   */
  async transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    if (this.inTransaction.getStore()) throw new Error('nested DatabaseService.transaction(): pass the outer db instead');
    const db = FakeDatabase.db(`transaction ${++this.nextId}`);
    const hooks: Array<() => void> = [];
    const run = this.tail.then(() => this.inTransaction.run(true, () => this.attempt(db, hooks, work)));
    this.tail = run.catch(() => undefined);
    const result = await run;
    for (const hook of hooks) hook();
    return result;
  }

  private async attempt<T>(db: Db, hooks: Array<() => void>, work: (db: Db) => Promise<T>): Promise<T> {
    this.hooks.set(db, hooks);
    const before = this.tables.map((t) => t.snapshot());
    try {
      return await work(db);
    } catch (error) {
      hooks.length = 0;
      this.tables.forEach((t, i) => t.restore(before[i]));
      throw error;
    } finally {
      this.hooks.delete(db);
    }
  }

  within<T>(db: Db | undefined, work: (db: Db) => Promise<T>): Promise<T> {
    return db ? work(db) : this.transaction(work);
  }

  afterCommit(db: Db, hook: () => void): void {
    const hooks = this.hooks.get(db);
    if (!hooks) throw new Error('afterCommit() needs the db of a DatabaseService.transaction()');
    hooks.push(hook);
  }

  causally<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return work(this.manager);
  }

  exec(): never {
    throw new Error('service tests have no database: DatabaseService.exec() was called (a real repository is in the module)');
  }

  rows(): never {
    throw new Error('service tests have no database: DatabaseService.rows() was called (a real repository is in the module)');
  }
}

/** Per process: the config refuses placeholder keys, and secrets.json is never written (both given). */
const SECRETS = { REFRESH_TOKEN_KEYS: `s1:${randomBytes(32).toString('base64url')}`, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };

/** A fixed start for fake clocks, so that a failure reads the same on every run. */
export const SERVICE_TEST_EPOCH = Date.UTC(2026, 0, 1, 9, 0, 0);

/**
 * The configuration of `npm start` with no environment (loadConfig's defaults), fixed test
 * secrets, and `overrides` on top: a service test states the settings its rule depends on.
 */
export function serviceConfig(overrides: Partial<AppConfig> = {}): AppConfig {
  const config = loadConfig({ DATA_DIR: '/nonexistent/latchkey-service-tests', ...SECRETS });
  return { ...config, ...overrides };
}

export interface ServiceTestOptions {
  /** Real classes and fakes to build the service with (`{ provide: XRepository, useValue: memory }`); the rest is automocked. */
  providers?: Provider[];
  config?: Partial<AppConfig>;
  clock?: FakeClock;
  database?: FakeDatabase;
}

export interface ServiceTest<T> {
  sut: T;
  module: TestingModule;
  clock: FakeClock;
  config: AppConfig;
  database: FakeDatabase;
  /** The automock standing in for `token` (created on first request by the module, or now). */
  mock<M>(token: Type<M>): Mocked<M>;
  get<M>(token: Type<M>): M;
}

/**
 * `newTestService(AuthService, { providers: [UsersService, …] })`: the service under test, the
 * classes named in `providers` real, the Clock fake (move it with `clock.advance(ms)`), the
 * DatabaseService a FakeDatabase, the config `serviceConfig(options.config)`, and every other
 * dependency, direct or of a real provider, an automock (`mock(Type)` to program or inspect it).
 */
export async function newTestService<T>(service: Type<T>, options: ServiceTestOptions = {}): Promise<ServiceTest<T>> {
  const clock = options.clock ?? new FakeClock(SERVICE_TEST_EPOCH);
  const config = serviceConfig(options.config);
  const database = options.database ?? new FakeDatabase();
  const mocks = new Map<InjectionToken, unknown>();
  const mocked = <M>(token: InjectionToken): Mocked<M> => {
    if (!mocks.has(token)) mocks.set(token, automock(typeof token === 'function' ? (token as Type<unknown>) : undefined));
    return mocks.get(token) as Mocked<M>;
  };
  const module = await Test.createTestingModule({
    providers: [
      service,
      { provide: APP_CONFIG, useValue: config },
      { provide: Clock, useValue: clock },
      { provide: DatabaseService, useValue: database },
      ...(options.providers ?? []),
    ],
  })
    .useMocker((token) => mocked(token!))
    .compile();
  return {
    sut: module.get(service),
    module,
    clock,
    config,
    database,
    mock: (token) => mocked(token),
    get: (token) => module.get(token),
  };
}
