import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, Length, MaxLength, Validate, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
import { Transform } from 'class-transformer';
import { passwordPolicyError, PASSWORD_MAX, PASSWORD_MIN } from './password.service';

@ValidatorConstraint({ name: 'passwordPolicy' })
export class PasswordPolicy implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return passwordPolicyError(value) === null;
  }
  defaultMessage(args?: ValidationArguments): string {
    return (passwordPolicyError(args?.value) ?? 'password is not acceptable').replace(/^password/, args?.property ?? 'password');
  }
}

/** Trims strings only; any other JSON type is left for the validators to reject. */
export const Trim = () => Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254 })
  @IsString()
  @Trim()
  @MaxLength(254)
  @IsEmail({ allow_utf8_local_part: true, require_tld: false, allow_ip_domain: false }, { message: 'email must be an e-mail address' })
  email: string;

  @ApiProperty({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX })
  @Validate(PasswordPolicy)
  password: string;

  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @Trim()
  @Length(1, 200)
  name?: string;
}
