import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, FieldError } from './api-error';

function flatten(errors: ValidationError[], prefix = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = prefix + e.property;
    const own = Object.values(e.constraints ?? {}).map((message) =>
      // class-validator phrases "property x should not exist"; say it in the contract's terms.
      ({ field, message: message.startsWith('property ') ? `${field} is not an accepted field` : message }),
    );
    return [...own, ...flatten(e.children ?? [], `${field}.`)];
  });
}

/**
 * Strict validation: unknown fields are rejected, types are never coerced, and a body that
 * is not a JSON object (an array, a string, null) is a 400 rather than a surprise downstream.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => ApiError.validation(flatten(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if ((metadata.type === 'body' || metadata.type === 'query') && metadata.metatype && this.isClass(metadata.metatype)) {
      if (value === undefined || value === null || value === '') value = {};
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw ApiError.validation([{ field: metadata.type, message: `the ${metadata.type} must be a JSON object` }]);
      }
      const pollution = Object.keys(value as object).find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype');
      if (pollution) throw ApiError.validation([{ field: pollution, message: `${pollution} is not an accepted field` }]);
    }
    return super.transform(value, metadata);
  }

  private isClass(metatype: unknown): boolean {
    return typeof metatype === 'function' && ![String, Boolean, Number, Array, Object].includes(metatype as never);
  }
}
