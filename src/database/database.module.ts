import { Global, Logger, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/config';
import { createDataSource, ensureMysqlDatabase, runMigrations } from './data-source';
import { DatabaseService } from './database.service';

/** Connects, creates the MySQL database when missing, and runs pending migrations; reports which ran. */
export async function openDatabase(config: AppConfig): Promise<{ dataSource: DataSource; applied: string[] }> {
  await ensureMysqlDatabase(config);
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  const applied = (await runMigrations(dataSource)).map((m) => m.name);
  if (applied.length) new Logger('Database').log(`applied migrations: ${applied.join(', ')}`);
  return { dataSource, applied };
}

@Global()
@Module({
  providers: [{ provide: DataSource, inject: [APP_CONFIG], useFactory: async (config: AppConfig) => (await openDatabase(config)).dataSource }, DatabaseService],
  exports: [DataSource, DatabaseService],
})
export class DatabaseModule {}
