import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsString, Length, Matches, ValidateBy, ValidationArguments } from 'class-validator';
import { emailProblem } from './email';
import { DEVICE_ID_PATTERN, UUID_PATTERN } from './ids';
import { CURSOR_PATTERN } from './keyset';
import { PASSWORD_MAX, isPresentablePassword, passwordPolicyError } from './password-policy';
import { LINE_OR_BIDI_CONTROL } from './user-agent';

/**
 * The class-validator decorators behind every DTO, one per rule, so that a field means the
 * same thing wherever it appears.
 */

/** Trims strings only; any other JSON type is left for the validators to reject. */
export const Trim = () => Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

/** Controls (NUL, newlines, escape sequences) have no place in a display name. */
const DISPLAY_CHARACTERS = /^[^\p{Cc}]*$/u;

/** An e-mail address a user can register with (common/email.ts), trimmed. */
export const IsEmailAddress = () =>
  applyDecorators(
    Trim(),
    ValidateBy({
      name: 'emailAddress',
      validator: {
        validate: (v: unknown) => emailProblem(v) === null,
        defaultMessage: (a?: ValidationArguments) => `${a?.property ?? 'email'} ${emailProblem(a?.value) ?? 'is not valid'}`,
      },
    }),
  );

/** An e-mail address presented to look an account up (login, forgot password): any string of sane length. */
export const IsEmailLookup = () => applyDecorators(IsString(), Trim(), Length(3, 320));

/** A new password: the policy (common/password-policy.ts). */
export const IsNewPassword = () =>
  ValidateBy({
    name: 'newPassword',
    validator: {
      validate: (v: unknown) => passwordPolicyError(v) === null,
      defaultMessage: (a?: ValidationArguments) =>
        (passwordPolicyError(a?.value) ?? 'password is not acceptable').replace(/^password/, a?.property ?? 'password'),
    },
  });

/** A password presented for checking: 1 to PASSWORD_MAX characters, refused before argon2 otherwise. */
export const IsPresentedPassword = () =>
  ValidateBy({
    name: 'presentedPassword',
    validator: {
      validate: isPresentablePassword,
      defaultMessage: (a?: ValidationArguments) => `${a?.property ?? 'password'} must be a string of 1 to ${PASSWORD_MAX} characters`,
    },
  });

/** Free text shown to people (a name, a device name): trimmed, 1 to `max` characters, no controls. */
export const IsDisplayText = (max: number) =>
  applyDecorators(
    IsString(),
    Trim(),
    Length(1, max),
    Matches(DISPLAY_CHARACTERS, { message: ({ property }) => `${property} must not contain control characters` }),
  );

/**
 * A device name: display text that is also one plain line, since it is quoted in alert mails
 * (no line or paragraph separators, no bidi controls; common/user-agent.ts). People's names
 * keep bidi marks, which right-to-left scripts need.
 */
export const IsDeviceName = (max: number) =>
  applyDecorators(
    IsDisplayText(max),
    ValidateBy({
      name: 'oneLine',
      validator: {
        validate: (v: unknown) => typeof v !== 'string' || !LINE_OR_BIDI_CONTROL.test(v),
        defaultMessage: (a?: ValidationArguments) => `${a?.property ?? 'deviceName'} must not contain line separators or bidirectional controls`,
      },
    }),
  );

export const IsDeviceId = () =>
  applyDecorators(IsString(), Matches(DEVICE_ID_PATTERN, { message: ({ property }) => `${property} must be 8 to 64 characters of A-Z a-z 0-9 . _ : -` }));

export const IsUuidText = () => applyDecorators(IsString(), Matches(UUID_PATTERN, { message: ({ property }) => `${property} must be a UUID` }));

export const IsPageCursor = () => applyDecorators(IsString(), Matches(CURSOR_PATTERN, { message: ({ property }) => `${property} is not a valid page cursor` }));

/**
 * Query strings carry text only and the validation pipe never coerces. A number is taken from
 * plain digits only; anything else ("abc", "1e2", "-1", a repeated parameter) stays as it came
 * and fails the range check with 400 validation_failed.
 */
export const IsIntegerText = (min: number, max: number) =>
  applyDecorators(
    Transform(({ value }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value)),
    ValidateBy({
      name: 'integerInRange',
      validator: {
        validate: (v: unknown) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max,
        defaultMessage: (a?: ValidationArguments) => `${a?.property} must be a whole number from ${min} to ${max}`,
      },
    }),
  );

/** The token of a mailed link, as the page read it from the link: any string of sane length (its meaning is the link's business: 400 invalid_link). */
export const IsLinkToken = () => applyDecorators(IsString(), Length(1, 256));

/** An ISO 8601 date-time with seconds optional, milliseconds optional and a zone required (Z or ±hh:mm). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A point in time as the API writes them (ISO 8601 with a zone), one that exists (no 25th hour, no 31 February rolled over). */
export const IsIsoTime = () =>
  ValidateBy({
    name: 'isoTime',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && ISO_TIME.test(v) && Number.isFinite(Date.parse(v)) && sameCalendarDay(v),
      defaultMessage: (a?: ValidationArguments) => `${a?.property} must be an ISO 8601 date-time with a time zone, such as 2026-01-31T14:00:00Z`,
    },
  });

/** Date.parse rolls 2026-02-31 over to 3 March; the written date must be the one it means. */
function sameCalendarDay(v: string): boolean {
  const [year, month, day] = v.slice(0, 10).split('-').map(Number);
  const check = new Date(Date.UTC(year, month - 1, day));
  return check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day;
}

/** A time (IsIsoTime) after the one in `property`, by at most `maxMs`: the end of a range. */
export const IsTimeAfter = (property: string, maxMs: number, span: string) =>
  ValidateBy({
    name: 'timeAfter',
    validator: {
      validate: (v: unknown, a?: ValidationArguments) => {
        const start = (a?.object as Record<string, unknown> | undefined)?.[property];
        if (typeof v !== 'string' || typeof start !== 'string') return true; // IsIsoTime speaks for a missing or malformed one
        const gap = Date.parse(v) - Date.parse(start);
        return !Number.isFinite(gap) || (gap > 0 && gap <= maxMs);
      },
      defaultMessage: (a?: ValidationArguments) => `${a?.property} must be after ${property}, by at most ${span}`,
    },
  });
