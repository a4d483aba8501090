import { Global, Logger, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/config';
import { createDataSource, ensureMysqlDatabase, runMigrations } from './data-source';
import { DatabaseService } from './database.service';

/** Connects, creates the MySQL database when missing, and runs pending migrations at start. */
export async function openDatabase(config: AppConfig): Promise<DataSource> {
  await ensureMysqlDatabase(config);
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  const applied = await runMigrations(dataSource);
  if (applied.length) new Logger('Database').log(`applied migrations: ${applied.map((m) => m.name).join(', ')}`);
  return dataSource;
}

@Global()
@Module({
  providers: [
    { provide: DataSource, inject: [APP_CONFIG], useFactory: openDatabase },
    DatabaseService,
  ],
  exports: [DataSource, DatabaseService],
})
export class DatabaseModule {}
