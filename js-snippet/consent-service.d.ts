// Types for the global the consent-service banner defines (window.consentService).

export interface ConsentState {
  /** True once the visitor chose and the choice is still valid (lifetime, policy, categories). */
  decided: boolean;
  /** Per category slug: true (granted), false (refused) or null (undecided). Necessary: true. */
  choices: Record<string, boolean | null>;
  policy_version: string | null;
  banner_version: string | null;
  /** ISO 8601 time of the last decision, or null. */
  updated_at: string | null;
  /** True when a Global Privacy Control signal was honoured. */
  gpc: boolean;
}

export interface ConsentChange extends ConsentState {
  /** Categories that were granted before this change and are not any more. */
  withdrawn: string[];
}

/** A decision the service refused for good (a 4xx other than 429): it is not retried. */
export interface ConsentError {
  status: number;
  event_id: string;
  /** The service's answer: {code, status, message, errors}, or 0 when it was not JSON. */
  error: { code: number; status: string; message: string; errors: Record<string, unknown> } | 0;
}

export interface ConsentService {
  /** true / false, or null while the visitor has not decided (or must decide again). */
  get(category: string): boolean | null;
  state(): ConsentState;
  /** Returns a function that removes the listener. */
  on(type: "change", listener: (change: ConsentChange) => void): () => void;
  on(type: "ready", listener: (state: ConsentState) => void): () => void;
  on(type: "error", listener: (error: ConsentError) => void): () => void;
  /** Opens the preferences dialog. */
  open(): void;
  acceptAll(): void;
  rejectAll(): void;
  /** Sets the given categories; the others keep their current value. */
  set(choices: Record<string, boolean>): void;
  /** Withdraws every non-necessary category; declared cookies are deleted. */
  withdraw(): void;
  /** Resolves with the API once the banner script has run. */
  ready: Promise<ConsentService>;
}

declare global {
  interface Window {
    consentService: ConsentService;
  }
  interface DocumentEventMap {
    "consent:ready": CustomEvent<ConsentState>;
    "consent:change": CustomEvent<ConsentChange>;
    "consent:error": CustomEvent<ConsentError>;
  }
  /** Fired on a <form data-consent-form> once the service accepted it (202); the form was reset. */
  interface HTMLElementEventMap {
    "consent:sent": CustomEvent<{ lead_id?: string; status: string; message?: string }>;
  }
}
