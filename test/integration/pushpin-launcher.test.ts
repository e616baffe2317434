import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { sessionMembers, usePushpin } from '../helpers/pushpin';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no agent), so nothing stays open after the test. */
function request(url: string, init: { method?: string; body?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('tools/pushpin launcher', () => {
  const originRequests: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const origin = http.createServer((req, res) => {
    originRequests.push({ url: req.url ?? '', headers: req.headers });
    if (req.method === 'GET' && req.url === '/hello') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hi\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  });
  const pushpin = usePushpin(() => (origin.address() as AddressInfo).port);
  afterAll(async () => {
    origin.closeAllConnections();
    await new Promise((resolve) => origin.close(resolve));
  });

  it('listens on loopback ports and records where its log is', () => {
    const pp = pushpin();
    expect(pp.httpUrl).toBe(`http://127.0.0.1:${pp.httpPort}`);
    expect(pp.publishUrl).toBe(`http://127.0.0.1:${pp.publishPort}`);
    expect(pp.httpPort).not.toBe(pp.publishPort);
    expect(fs.readFileSync(pp.logFile, 'utf8')).toMatch(/\[handler\] started/);
  });

  it('proxies a GET to the origin and returns its body', async () => {
    const reply = await request(`${pushpin().httpUrl}/hello`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('hi\n');
  });

  it('signs the proxied request with a Grip-Sig JWT issued by pushpin', async () => {
    const seen = originRequests.find((r) => r.url === '/hello');
    const token = seen?.headers['grip-sig'];
    expect(typeof token).toBe('string');
    expect(decodeProtectedHeader(token as string)).toMatchObject({ alg: 'HS256' });
    expect(decodeJwt(token as string)).toMatchObject({ iss: 'pushpin' });
    const { payload } = await jwtVerify(token as string, new TextEncoder().encode('changeme'), { issuer: 'pushpin' });
    expect(payload.exp).toEqual(expect.any(Number));
  });

  it('accepts an empty publish on the publish port', async () => {
    const reply = await request(`${pushpin().publishUrl}/publish/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ items: [] }),
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('Published\n');
  });

  it('stop() ends the whole process session and removes the run dir, and is idempotent', async () => {
    const pp = pushpin();
    expect(sessionMembers(pp.pid).length).toBeGreaterThanOrEqual(5); // runner + condure, zurl, proxy, handler
    await pp.stop();
    expect(sessionMembers(pp.pid)).toEqual([]);
    expect(() => process.kill(-pp.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(fs.existsSync(pp.runDir)).toBe(false);
    await expect(pp.exited).resolves.toEqual(expect.objectContaining({ code: expect.any(Number) }));
    await expect(pp.stop()).resolves.toBeUndefined();
  });
});
