/**
 * The DataSource shared by the app and the TypeORM CLI
 * (`npm run migration:run`, or `npx typeorm migration:show -d dist/ormconfig.js`).
 * Both read the same environment variables through the same validated config.
 */
import 'reflect-metadata';
import { loadConfig } from './src/config/config';
import { createDataSource } from './src/database/data-source';

export default createDataSource(loadConfig(process.env));
