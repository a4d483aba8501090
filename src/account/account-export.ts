import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { ApiError } from '../common/api-error';
import type { ClientContext } from '../common/client-context';
import { Clock } from '../common/clock';
import { describeDatabaseError } from '../common/database-errors';
import { jsonObjectText } from '../common/json-stream';
import { AuditService } from '../audit/audit.service';
import { FactorsService } from '../mfa/factors.service';
import { MfaService } from '../mfa/mfa.service';
import { TrustedDevices } from '../mfa/trusted-devices';
import { AccountLimits } from '../rate-limit/account-limits';
import { SessionsService } from '../sessions/sessions.service';
import { toSessionView } from '../sessions/session.view';
import { UsersService } from '../users/users.service';
import type { Principal } from '../auth/jwt.strategy';
import { AccountLinksRepository } from './account-links.repository';
import { EXPORT_FORMAT, toExportedAccount, toExportedEvent, toExportedLink } from './export.view';

/** Rows per query while streaming: memory holds about one page, whatever the history's length. */
export const EXPORT_PAGE_SIZE = 1000;

export interface AccountExportStream {
  filename: string;
  body: Readable;
}

/** The stream failed after its status was sent: it is cut off, so the client sees a truncated document. */
class ExportInterrupted extends Error {
  constructor() {
    super('the data export was cut off by a database error');
    this.name = 'ExportInterrupted';
  }
}

/**
 * GET /me/export: one JSON document of everything latchkey holds about the caller. The small
 * parts (account, factors, recovery-code count, trusted devices, mailed links) are read before
 * the answer starts, so a failure there is an ordinary error answer; sessions and audit events
 * are then streamed page by page (keyset walks), each page written before the next is read.
 * The client hanging up ends the walk at its next page; a database error after the status was
 * sent is logged and cuts the document off unclosed.
 */
@Injectable()
export class AccountExport {
  private readonly logger = new Logger(AccountExport.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly factors: FactorsService,
    private readonly mfa: MfaService,
    private readonly trustedDevices: TrustedDevices,
    private readonly links: AccountLinksRepository,
    private readonly audit: AuditService,
    private readonly limits: AccountLimits,
  ) {}

  async open(principal: Principal, client: ClientContext): Promise<AccountExportStream> {
    const user = await this.users.findById(principal.userId);
    if (!user) throw ApiError.invalidToken(true);
    await this.mfa.requireAal2IfEnrolled(principal);
    await this.limits.hit('export', this.config.exportRateLimit, user.id, client);
    // Recorded first, so that an export cut short is on the record too (and the document lists it).
    await this.audit.record({ type: 'account_exported', userId: user.id, sessionId: principal.sessionId, actorId: user.id, client });
    const [factors, recoveryCodes, trustedDevices, links] = await Promise.all([
      this.factors.list(user.id),
      this.factors.recoveryCodesLeft(user.id),
      this.trustedDevices.list(user.id),
      this.links.listForUser(user.id),
    ]);
    const exportedAt = new Date(this.clock.now()).toISOString();
    const head = {
      format: EXPORT_FORMAT,
      exportedAt,
      account: toExportedAccount(user),
      factors,
      recoveryCodes,
      trustedDevices,
      accountLinks: links.map(toExportedLink),
    };
    const sessions = mapPages(this.sessions.pagesOfUser(user.id, EXPORT_PAGE_SIZE), (s) => toSessionView(s, principal.sessionId));
    const events = mapPages(this.audit.pagesOfUser(user.id, EXPORT_PAGE_SIZE), (e) => toExportedEvent(e, user.id));
    const text = this.guarded(
      jsonObjectText(head, [
        ['sessions', sessions],
        ['auditEvents', events],
      ]),
      user.id,
    );
    return { filename: `latchkey-export-${exportedAt.slice(0, 10)}.json`, body: Readable.from(text, { objectMode: false }) };
  }

  /** Logs how the stream ended when it did not end whole, and turns a failure into one that says nothing of the SQL. */
  private async *guarded(text: AsyncGenerator<string>, userId: string): AsyncGenerator<string> {
    let whole = false;
    try {
      yield* text;
      whole = true;
    } catch (error) {
      whole = true;
      this.logger.error(`data export of user ${userId} cut off by a database error ${JSON.stringify(describeDatabaseError(error))}`);
      throw new ExportInterrupted();
    } finally {
      if (!whole) this.logger.log(`data export of user ${userId} ended early: the client hung up`);
    }
  }
}

async function* mapPages<T, V>(pages: AsyncIterable<T[]>, view: (row: T) => V): AsyncGenerator<V[]> {
  for await (const page of pages) yield page.map(view);
}
