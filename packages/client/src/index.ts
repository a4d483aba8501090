export {
  createClient,
  LatchkeyClient,
  LatchkeyError,
  SessionEndedEvent,
  StepUpRequiredEvent,
  type ClientOptions,
  type Mode,
  type PasskeyOptions,
  type PendingSecondStep,
  type SecondFactorAnswer,
  type SecondFactorMethod,
  type SessionInfo,
  type SignedInUser,
  type StepUpAnswer,
} from './client.js';
export type { SessionEndReason } from './coordination.js';
