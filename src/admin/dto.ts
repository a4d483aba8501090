import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AUDIT_EVENT_TYPES, AuditEventType } from '../audit/audit-event.entity';
import { IsIntegerText, IsIsoTime, IsPageCursor, IsTimeAfter, IsUuidText, Trim } from '../common/validators';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })
  @IsOptional()
  @IsIntegerText(1, MAX_PAGE_SIZE)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page (opaque).' })
  @IsOptional()
  @IsPageCursor()
  cursor?: string;
}

export class ListUsersQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Matches a part of the e-mail address or the name, case-insensitively.', maxLength: 200 })
  @IsOptional()
  @IsString()
  @Trim()
  @MaxLength(200)
  q?: string;
}

export class ListEventsQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuidText()
  userId?: string;

  @ApiPropertyOptional({ enum: AUDIT_EVENT_TYPES })
  @IsOptional()
  @IsIn(AUDIT_EVENT_TYPES, { message: `type must be one of ${AUDIT_EVENT_TYPES.join(', ')}` })
  type?: AuditEventType;
}

/** The longest range GET /admin/events/hourly counts: 31 days, so at most 744 hours in one answer. */
export const HOURLY_MAX_MS = 31 * 24 * 3_600_000;

export class EventsPerHourQuery {
  @ApiProperty({ format: 'date-time', description: 'Start of the first hour counted (inclusive); ISO 8601 with a time zone.' })
  @IsIsoTime()
  from: string;

  @ApiProperty({
    format: 'date-time',
    description: 'End of the range (exclusive): after `from`, at most 31 days later. The last hour is cut short here when the range is not whole hours.',
  })
  @IsIsoTime()
  @IsTimeAfter('from', HOURLY_MAX_MS, '31 days')
  to: string;

  @ApiPropertyOptional({ enum: AUDIT_EVENT_TYPES, description: 'Count only events of this type; every type when left out.' })
  @IsOptional()
  @IsIn(AUDIT_EVENT_TYPES, { message: `type must be one of ${AUDIT_EVENT_TYPES.join(', ')}` })
  type?: AuditEventType;
}

export class UserSessionsQuery {
  @ApiPropertyOptional({ enum: ['revoked'], description: 'include=revoked also lists revoked and expired sessions.' })
  @IsOptional()
  @IsIn(['revoked'], { message: 'include must be "revoked"' })
  include?: 'revoked';
}
