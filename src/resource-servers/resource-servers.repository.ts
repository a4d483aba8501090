import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
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

  /** The client ids among these that are registered, in one statement. */
  async existing(clientIds: string[]): Promise<string[]> {
    if (clientIds.length === 0) return [];
    const rows = await this.repo().find({ select: { clientId: true }, where: { clientId: In(clientIds) } });
    return rows.map((r) => r.clientId);
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
