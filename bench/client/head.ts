const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A response head read off a raw socket: its text, and where the body starts in `data`. */
export interface Head {
  readonly text: string;
  readonly status: number;
  /** Everything received so far (the head's bytes included). */
  readonly data: Buffer;
  /** Offset of the first body byte in `data`. */
  readonly bodyAt: number;
}

/** Collects bytes until the blank line that ends an HTTP response head. */
export class HeadReader {
  #pending: Buffer | undefined;

  /** Feed received bytes; the head once it is complete, else undefined. */
  feed(buf: Buffer): Head | undefined {
    const data = this.#pending === undefined ? buf : Buffer.concat([this.#pending, buf]);
    const end = data.indexOf(CRLFCRLF);
    if (end < 0) {
      this.#pending = data;
      return undefined;
    }
    this.#pending = undefined;
    const text = data.toString('latin1', 0, end);
    return { text, status: Number(text.slice(9, 12)), data, bodyAt: end + 4 };
  }
}
