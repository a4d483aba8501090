import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Endpoint } from '../common/openapi';
import { ApiError } from '../common/api-error';
import { DatabaseService } from '../database/database.service';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly database: DatabaseService) {}

  @Get()
  @Endpoint('Liveness: the process runs', { database: false })
  @ApiOkResponse({ description: 'The process is up.' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @Endpoint('Readiness: the database answers')
  @ApiOkResponse({ description: 'The database answers.' })
  async ready(): Promise<{ status: 'ok' }> {
    try {
      await this.database.ping();
    } catch {
      throw ApiError.serviceUnavailable();
    }
    return { status: 'ok' };
  }
}
