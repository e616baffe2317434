import { SignJWT } from 'jose';
import type { GripEndpoint } from '../protocol/grip-url';

/**
 * Builds the `Authorization` header for a GRIP endpoint: a short-lived HS256
 * JWT when the URL has `iss` and a key (Fanout Cloud), a bearer token when it
 * has only a key (Fastly), Basic for `user:pass@`, else none (Pushpin).
 */
export class EndpointAuth {
  readonly #endpoint: GripEndpoint;
  #cached: { value: string; until: number } | undefined;

  constructor(endpoint: GripEndpoint) {
    this.#endpoint = endpoint;
  }

  async header(): Promise<string | undefined> {
    const e = this.#endpoint;
    if (e.iss !== undefined && e.key !== undefined) {
      const now = Math.floor(Date.now() / 1000);
      if (this.#cached !== undefined && this.#cached.until > now) return this.#cached.value;
      const jwt = await new SignJWT({ iss: e.iss }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setExpirationTime(now + 600).sign(e.key);
      this.#cached = { value: `Bearer ${jwt}`, until: now + 300 };
      return this.#cached.value;
    }
    if (e.keyString !== undefined) return `Bearer ${e.keyString}`;
    if (e.user !== undefined) return `Basic ${Buffer.from(`${e.user}:${e.password ?? ''}`).toString('base64')}`;
    return undefined;
  }
}
