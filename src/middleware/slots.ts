/**
 * Where `req.grip` and `res.grip` live.
 *
 * Express gives every request and response a new prototype
 * (`Object.setPrototypeOf(req, app.request)`). V8 then gives each such object
 * a hidden class of its own, and every property added to it afterwards copies
 * that class: a few microseconds and a kilobyte of garbage per property, per
 * request. So when the object's prototype chain is a framework's (Express's
 * `request` / `response` objects, the framework's documented extension point)
 * `grip` is an accessor on the framework's base prototype and the value sits
 * in a WeakMap. For plain node:http / Connect objects (their prototype is
 * Node's own, which gripkit never changes) and anything unusual, `grip` is an
 * ordinary own property, as before.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { baseAbove } from '../engine/framework-base';

const values = new WeakMap<object, unknown>();

function get(this: object): unknown {
  return values.get(this);
}

/** Assigning `req.grip` / `res.grip` yourself makes an own property, as without the accessor. */
function set(this: object, value: unknown): void {
  Object.defineProperty(this, 'grip', { value, writable: true, configurable: true, enumerable: true });
}

/** Prototype → the framework base that carries our accessor, or null when there is none to use. */
const bases = new WeakMap<object, object | null>();

/**
 * The object just above Node's own prototype (`nodeProto`) in `proto`'s
 * chain, when the chain is a framework's (proto → … → base → nodeProto) and
 * `grip` there is, or can be made, our accessor. Null otherwise.
 */
function baseFor(proto: object, nodeProto: object): object | null {
  let base = bases.get(proto);
  if (base !== undefined) return base;
  base = baseAbove(proto, nodeProto);
  if (base !== null && !ownAccessor(base)) base = null;
  // Something between the object and the base that defines `grip` itself would hide the accessor.
  if (base !== null) for (let p: object = proto; p !== base; p = Object.getPrototypeOf(p) as object) if (Object.prototype.hasOwnProperty.call(p, 'grip')) base = null;
  bases.set(proto, base);
  return base;
}

/** Make `grip` on `base` our accessor; false when `base` already has a `grip` of someone else's (another gripkit copy, say). */
function ownAccessor(base: object): boolean {
  const d = Object.getOwnPropertyDescriptor(base, 'grip');
  if (d !== undefined) return d.get === get;
  if (!Object.isExtensible(base)) return false;
  Object.defineProperty(base, 'grip', { get, set, configurable: true, enumerable: false });
  return true;
}

/** Set `obj.grip` (a request or response) to `value`, the fast way when there is one. */
function setGrip(obj: object, value: unknown, nodeProto: object): void {
  const proto = Object.getPrototypeOf(obj) as object | null;
  if (proto !== null && proto !== nodeProto && !Object.prototype.hasOwnProperty.call(obj, 'grip') && baseFor(proto, nodeProto) !== null) {
    values.set(obj, value);
    return;
  }
  (obj as { grip?: unknown }).grip = value;
}

/** @internal `req.grip = value`. */
export const setRequestGrip = (req: IncomingMessage, value: unknown): void => setGrip(req, value, IncomingMessage.prototype);

/** @internal `res.grip = value`. */
export const setResponseGrip = (res: ServerResponse, value: unknown): void => setGrip(res, value, ServerResponse.prototype);
