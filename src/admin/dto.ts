import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, Matches, MaxLength, ValidateBy } from 'class-validator';
import { AUDIT_EVENT_TYPES, AuditEventType } from '../audit/audit-event.entity';

/**
 * Query strings carry text only and the validation pipe never coerces. A limit is turned
 * into a number here only when it is plain digits; anything else ("abc", "1e2", "-1", a
 * repeated parameter) stays as it came and fails @IsInt with 400 validation_failed.
 */
const DigitsToInt = () => Transform(({ value }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value));

const CURSOR = /^[A-Za-z0-9_-]{1,200}$/;

class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @DigitsToInt()
  @ValidateBy({ name: 'pageLimit', validator: { validate: (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 100, defaultMessage: () => 'limit must be a whole number from 1 to 100' } })
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page (opaque).' })
  @IsOptional()
  @IsString()
  @Matches(CURSOR, { message: 'cursor is not a valid page cursor' })
  cursor?: string;
}

export class ListUsersQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Matches a part of the e-mail address or the name, case-insensitively.', maxLength: 200 })
  @IsOptional()
  @IsString()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @MaxLength(200)
  q?: string;
}

export class ListEventsQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsString()
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, { message: 'userId must be a UUID' })
  userId?: string;

  @ApiPropertyOptional({ enum: AUDIT_EVENT_TYPES })
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

