import { Injectable, PipeTransform } from '@nestjs/common';
import { ApiError } from './api-error';
import { isUuid } from './ids';

/** Path ids are canonical lower-case UUIDs; anything else is a 400 before any query. */
@Injectable()
export class IdPipe implements PipeTransform<unknown, string> {
  transform(value: unknown): string {
    if (!isUuid(value)) throw ApiError.validation([{ field: 'id', message: 'id must be a UUID' }]);
    return value;
  }
}
