import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, Length, Matches, MaxLength, Validate, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
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

/**
 * A password presented for checking (login, current password): any string of 1 to 128
 * characters, counted as the policy counts them. Longer input is refused before argon2 runs.
 */
@ValidatorConstraint({ name: 'presentedPassword' })
export class PresentedPassword implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string' || value.length === 0 || value.length > PASSWORD_MAX * 2) return false;
    return [...value].length <= PASSWORD_MAX;
  }
  defaultMessage(args?: ValidationArguments): string {
    return `${args?.property ?? 'password'} must be a string of 1 to ${PASSWORD_MAX} characters`;
  }
}

/**
 * Characters no e-mail address needs and that make two addresses look alike: controls,
 * format characters (zero-width, bidi overrides, BOM), separators, unassigned code points.
 */
export const EMAIL_CHARACTERS = /^[^\p{C}\p{Z}]*$/u;
/** Controls (NUL, newlines, escape sequences) have no place in a display name. */
export const DISPLAY_CHARACTERS = /^[^\p{Cc}]*$/u;

/** Trims strings only; any other JSON type is left for the validators to reject. */
export const Trim = () => Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254 })
  @IsString()
  @Trim()
  @MaxLength(254)
  @Matches(EMAIL_CHARACTERS, { message: 'email must not contain control, invisible or separator characters' })
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
  @Matches(DISPLAY_CHARACTERS, { message: 'name must not contain control characters' })
  name?: string;
}
