/**
 * For a prototype whose chain is a framework's (`proto → … → base →
 * nodeProto`, as Express's requests and responses have: `app.request →
 * express.request → IncomingMessage.prototype`), the base just above Node's
 * own prototype: where gripkit puts what every such object should see
 * (`middleware/slots.ts`, `engine/capture.ts`). Null when the chain does not
 * reach `nodeProto`.
 * @internal
 */
export function baseAbove(proto: object, nodeProto: object): object | null {
  let cur: object | null = proto;
  for (let depth = 0; cur !== null && depth < 16; depth++) {
    const up = Object.getPrototypeOf(cur) as object | null;
    if (up === nodeProto) return cur;
    cur = up;
  }
  return null;
}
