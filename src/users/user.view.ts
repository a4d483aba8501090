import { ApiProperty } from '@nestjs/swagger';
import { ROLES } from '../common/role';
import { iso } from '../common/time';
import type { User } from './user.entity';

export class UserView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() email: string;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ enum: ROLES }) role: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) passwordChangedAt: string | null;
  @ApiProperty({ description: 'Whether the owner has proved they read mail at this address.' }) emailVerified: boolean;
}

/** The only shape in which a user leaves the server: never the password hash. */
export function toUserView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    createdAt: iso(user.createdAt)!,
    passwordChangedAt: iso(user.passwordChangedAt),
    emailVerified: user.emailVerifiedAt !== null,
  };
}
