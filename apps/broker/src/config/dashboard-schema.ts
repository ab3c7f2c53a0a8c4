// The dashboard's sign-in sessions and what its topic pages may show (config key `dashboard`).

export interface DashboardConfig {
  /** a signed-in session not used for this long ends */
  readonly sessionIdleMs: number
  /** a signed-in session ends this long after sign-in, used or not */
  readonly sessionMaxMs: number
  /** sessions held at once, all accounts together; sign-ins past it are refused (503) */
  readonly maxSessions: number
  /** sessions one account may hold; its oldest ends when it signs in once more */
  readonly maxSessionsPerUser: number
  /** cookies carry Secure: 'auto' when the request came over TLS (or, behindProxy, X-Forwarded-Proto https) */
  readonly secureCookie: 'auto' | 'always'
  /** messages kept per registered topic for its page (only viewers who may read the topic see them); 0: none */
  readonly recentMessages: number
}

export const dashboardSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    sessionIdleMs: { type: 'integer', minimum: 1000, default: 1_800_000 },
    sessionMaxMs: { type: 'integer', minimum: 1000, default: 43_200_000 },
    maxSessions: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000 },
    maxSessionsPerUser: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    secureCookie: { type: 'string', enum: ['auto', 'always'], default: 'auto' },
    recentMessages: { type: 'integer', minimum: 0, maximum: 100, default: 0 }
  }
} as const
