export { createClient, LatchkeyClient, LatchkeyError, SessionEndedEvent, type ClientOptions, type Mode, type SessionInfo } from './client';
export type { SessionEndReason } from './coordination';
