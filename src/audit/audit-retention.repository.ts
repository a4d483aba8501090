import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';

/** The one deletion audit events ever see: past their retention, in bounded batches. */
@Injectable()
export class AuditRetentionRepository {
  constructor(private readonly database: DatabaseService) {}

  async deleteOlderThan(before: number, batch: number): Promise<number> {
    const rows = await this.database.rows<{ id: string }>(`SELECT id FROM audit_events WHERE created_at < ? ORDER BY created_at LIMIT ${Number(batch)}`, [before]);
    if (rows.length === 0) return 0;
    return this.database.exec(
      `DELETE FROM audit_events WHERE id IN (${rows.map(() => '?').join(', ')})`,
      rows.map((r) => r.id),
    );
  }
}
