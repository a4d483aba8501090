import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { IsDisplayText, IsIntegerText } from '../common/validators';
import { ApiProperty } from '@nestjs/swagger';

export const FEED_MAX_WAIT_S = 30;
export const FEED_MAX_LIMIT = 1000;
export const FEED_DEFAULT_LIMIT = 500;

export class FeedQuery {
  @ApiPropertyOptional({ description: 'The cursor of the previous answer (opaque); absent: every revocation of the last access-token lifetime.' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  after?: string;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: FEED_MAX_WAIT_S,
    default: 0,
    description: 'Long polling: hold the request up to this many seconds while nothing is newer.',
  })
  @IsOptional()
  @IsIntegerText(0, FEED_MAX_WAIT_S)
  wait?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: FEED_MAX_LIMIT, default: FEED_DEFAULT_LIMIT })
  @IsOptional()
  @IsIntegerText(1, FEED_MAX_LIMIT)
  limit?: number;
}

export class AddResourceServerDto {
  @ApiProperty({ example: 'orders-api', maxLength: 100 })
  @IsDisplayText(100)
  @MaxLength(100)
  name: string;
}

export class ResourceServerView {
  @ApiProperty({ format: 'uuid' }) clientId: string;
  @ApiProperty() name: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class NewResourceServerView extends ResourceServerView {
  @ApiProperty({ description: 'Shown this once; only a hash is kept.' }) clientSecret: string;
}

export class ResourceServerList {
  @ApiProperty({ type: [ResourceServerView] }) items: ResourceServerView[];
}

export class FeedPageView {
  @ApiProperty({ type: [String], description: 'CAEP session-revoked Security Event Tokens (RFC 8417), oldest first.' }) events: string[];
  @ApiProperty({ description: 'Pass as `after` next time.' }) cursor: string;
  @ApiProperty({ description: 'More events are already waiting.' }) more: boolean;
}
