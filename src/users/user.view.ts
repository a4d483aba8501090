import { ApiProperty } from '@nestjs/swagger';
import type { User } from './user.entity';

export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

export class UserView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() email: string;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ enum: ['user', 'admin'] }) role: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) passwordChangedAt: string | null;
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
  };
}
