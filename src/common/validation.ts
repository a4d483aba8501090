import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, FieldError } from './api-error';

/** With the u flag this matches only unpaired surrogates, which no UTF-8 column can store. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Rules for every value of every body and query, before any validator sees them: no null
 * (an optional field is left out, not nulled), no NUL character, no lone surrogate (some
 * validators throw on them, and no database column can keep them faithfully). Iterative, so
 * depth costs no stack.
 */
function valueProblem(root: unknown): FieldError | null {
  const stack: Array<[string, unknown]> = Object.entries(root as object);
  while (stack.length) {
    const [path, value] = stack.pop()!;
    if (value === null) return { field: path, message: `${path} must not be null; leave it out instead` };
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return { field: path, message: `${path} must not contain NUL characters` };
      if (LONE_SURROGATE.test(value)) return { field: path, message: `${path} must be well-formed Unicode` };
    } else if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) stack.push([`${path}.${k}`, v]);
    }
  }
  return null;
}

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
      const problem = valueProblem(value);
      if (problem) throw ApiError.validation([problem]);
    }
    return super.transform(value, metadata);
  }

  private isClass(metatype: unknown): boolean {
    return typeof metatype === 'function' && ![String, Boolean, Number, Array, Object].includes(metatype as never);
  }
}
