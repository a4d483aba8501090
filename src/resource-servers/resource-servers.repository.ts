import { Injectable } from '@nestjs/common';
import { Db, DatabaseService } from '../database/database.service';
import { ResourceServer } from './resource-server.entity';

/** The only place that knows the resource_servers table. */
@Injectable()
export class ResourceServersRepository {
  constructor(private readonly database: DatabaseService) {}

  private repo(db: Db = this.database.manager) {
    return db.getRepository(ResourceServer);
  }

  find(clientId: string): Promise<ResourceServer | null> {
    return this.repo().findOneBy({ clientId });
  }

  list(): Promise<ResourceServer[]> {
    return this.repo().find({ order: { createdAt: 'ASC', clientId: 'ASC' } });
  }

  async insert(server: ResourceServer, db: Db): Promise<void> {
    await this.repo(db).insert(server);
  }

  async remove(clientId: string, db: Db): Promise<ResourceServer | null> {
    const found = await this.repo(db).findOneBy({ clientId });
    if (found) await this.repo(db).delete({ clientId });
    return found;
  }
}
