// Loads the CommonJS build with require() and exercises the bundled ESM-only
// dependencies (p-queue for remote publishing, jose for Grip-Sig).
const http = require('node:http');
const gripkit = require('../../dist/index.cjs');

async function main() {
  const names = Object.keys(gripkit).sort();
  let body = '';
  const server = http.createServer((req, res) => {
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end('Published\n'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const publisher = gripkit.createPublisher({ gripUrl: url });
  await publisher.publish('smoke', 'hello');
  await publisher.close();
  server.close();
  const token = await gripkit.signGripSig({ key: Buffer.from('changeme'), iss: 'pushpin' });
  const verified = await gripkit.verifyGripSig(token, [{ key: Buffer.from('changeme'), iss: 'pushpin' }]);
  process.stdout.write(JSON.stringify({ names, published: JSON.parse(body).items[0].channel, verified }));
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
