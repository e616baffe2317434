/**
 * The `application/grip-instruct` JSON body (grip-protocol.md §1.4), with
 * Pushpin's error messages. Re-exported from `grip-headers`.
 */

import { GripError } from '../errors';
import { base64ToBytes, has, isJsonObject, jsonHeaders, jsonMeta, jsonToInt, utf8 } from './json-fields';
import type { JsonObject } from './json-fields';
import type { ChannelSpec, HttpResponseSpec, Instruction, KeepAliveSpec, StatusSpec } from './types';

const fail = (message: string): never => {
  throw new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);
};

const jsonString = (o: JsonObject, pn: string, key: string): string | undefined => {
  if (!has(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'string') fail(`${pn} contains '${key}' with wrong type`);
  return v as string;
};

const jsonSeconds = (o: JsonObject, pn: string): number | undefined => {
  if (!has(o, 'timeout')) return undefined;
  const t = jsonToInt(o.timeout);
  if (t === undefined) fail(`${pn} contains 'timeout' with wrong type`);
  if ((t as number) < 0) fail(`${pn} contains 'timeout' with invalid value`);
  return t;
};

const jsonChannel = (v: unknown): ChannelSpec => {
  if (!isJsonObject(v)) return fail('channel is not an object');
  if (!has(v, 'name')) fail("channel does not contain 'name'");
  const name = jsonString(v, 'channel', 'name') as string;
  const prevId = jsonString(v, 'channel', 'prev-id');
  let filters: string[] | undefined;
  if (has(v, 'filters')) {
    if (!Array.isArray(v.filters)) fail("channel contains 'filters' with wrong type");
    filters = (v.filters as unknown[]).map((f) => (typeof f === 'string' ? f : fail('filters contains value with wrong type')));
  }
  return {
    name,
    ...(prevId !== undefined ? { prevId } : {}),
    ...(filters !== undefined && filters.length > 0 ? { filters } : {}),
  };
};

const jsonKeepAlive = (v: unknown, base: KeepAliveSpec | undefined): KeepAliveSpec | undefined => {
  if (!isJsonObject(v)) return fail("hold contains 'keep-alive' with wrong type");
  let data = base?.data;
  if (has(v, 'content-bin')) data = base64ToBytes(jsonString(v, 'keep-alive', 'content-bin') as string);
  else if (has(v, 'content')) data = utf8(jsonString(v, 'keep-alive', 'content') as string);
  const t = jsonSeconds(v, 'keep-alive') ?? 55;
  if (data === undefined || data.length === 0) return undefined;
  // JSON has no `mode`; Pushpin then never resets the timer on data (interval-like).
  return { data, timeoutSec: Math.max(1, t), mode: base?.mode ?? 'interval' };
};

const jsonResponse = (v: unknown, status: StatusSpec | undefined): HttpResponseSpec => {
  if (!isJsonObject(v)) return fail("instruct contains 'response' with wrong type");
  let code = status?.code ?? 200;
  let reason = status?.reason;
  if (has(v, 'code')) {
    const c = jsonToInt(v.code);
    if (c === undefined) fail("response contains 'code' with wrong type");
    if ((c as number) < 0 || (c as number) > 999) fail("response contains 'code' with invalid value");
    code = c as number;
    reason = undefined;
  }
  const r = jsonString(v, 'response', 'reason');
  if (r !== undefined && r !== '') reason = r;
  const headers = has(v, 'headers') ? jsonHeaders(v.headers, 'response', fail) : [];
  let body: Uint8Array = new Uint8Array(0);
  if (has(v, 'body-bin')) body = base64ToBytes(jsonString(v, 'response', 'body-bin') as string);
  else if (has(v, 'body')) body = utf8(jsonString(v, 'response', 'body') as string);
  return { code, ...(reason !== undefined ? { reason } : {}), headers, body };
};

/**
 * Apply an `application/grip-instruct` JSON body on top of the instruction
 * parsed from the same response's `Grip-*` headers (grip-protocol.md §1.4):
 * `hold` sets the mode (default `response`), appends channels, sets timeout,
 * keep-alive (interval-like, as in Pushpin) and merges meta; `response` is the
 * response to use instead of the origin's.
 *
 * @param body - The response body as text.
 * @param base - The instruction from the headers (`parseInstruction` in `grip-headers`).
 * @param statusCode - The origin's status code; when given it must be 200.
 * @returns The merged instruction and the JSON `response` (`undefined` when
 *   absent; the origin's headers and body must then be dropped all the same).
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` with Pushpin's message.
 */
export function parseInstructJson(body: string, base: Instruction, statusCode?: number): { instruction: Instruction; response: HttpResponseSpec | undefined } {
  if (statusCode !== undefined && statusCode !== 200) fail('response code for application/grip-instruct content must be 200');
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return fail('failed to parse application/grip-instruct content as JSON');
  }
  if (!isJsonObject(doc)) return fail('instruct must be an object');

  let instruction: Instruction = base;
  if (has(doc, 'hold')) {
    const h = doc.hold;
    if (!isJsonObject(h)) return fail("instruct contains 'hold' with wrong type");
    const mode = jsonString(h, 'hold', 'mode');
    if (mode !== undefined && mode !== 'response' && mode !== 'stream') fail("hold 'mode' must be set to either 'response' or 'stream'");
    if (!has(h, 'channels')) fail("hold does not contain 'channels'");
    if (!Array.isArray(h.channels)) fail("hold contains 'channels' with wrong type");
    const channels = (h.channels as unknown[]).map(jsonChannel);
    const timeoutSec = jsonSeconds(h, 'hold');
    const keepAlive = has(h, 'keep-alive') ? jsonKeepAlive(h['keep-alive'], base.keepAlive) : base.keepAlive;
    const meta = has(h, 'meta') ? { ...base.meta, ...jsonMeta(h.meta, 'hold', fail) } : base.meta;
    const { keepAlive: _k, meta: _m, timeoutSec: _t, ...rest } = base;
    instruction = {
      ...rest,
      hold: (mode ?? 'response') as 'response' | 'stream',
      channels: [...base.channels, ...channels],
      ...(timeoutSec !== undefined ? { timeoutSec } : base.timeoutSec !== undefined ? { timeoutSec: base.timeoutSec } : {}),
      ...(keepAlive !== undefined ? { keepAlive } : {}),
      ...(meta !== undefined && Object.keys(meta).length > 0 ? { meta } : {}),
    };
  }
  const response = has(doc, 'response') ? jsonResponse(doc.response, base.status) : undefined;
  return { instruction, response };
}
