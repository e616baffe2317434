import { encodeInstruction } from '../protocol/grip-headers';
import type { Instruction } from '../protocol/types';
import type { Engine, Exchange } from './engine';

/**
 * Carries instructions out through a GRIP proxy: they become `Grip-*`
 * response headers and the proxy (Pushpin, Fanout) holds the client.
 */
export class ProxyEngine implements Engine {
  readonly kind = 'proxy' as const;
  readonly #applied = new WeakMap<Exchange['res'], string[]>();

  apply({ res }: Exchange, instruction: Instruction): void {
    // Remove what an earlier call on this response set, so the last call wins.
    for (const name of this.#applied.get(res) ?? []) res.removeHeader(name);
    const names: string[] = [];
    for (const [name, value] of encodeInstruction(instruction)) {
      res.setHeader(name, value);
      names.push(name);
    }
    this.#applied.set(res, names);
  }

  async close(): Promise<void> {
    // Nothing is held in-process in proxy mode.
  }
}
