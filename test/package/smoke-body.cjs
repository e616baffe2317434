// The smoke test itself, run against one build: publishes through a remote
// target (p-queue, an ESM-only dependency) and signs/verifies a Grip-Sig (jose).
const http = require('node:http');

module.exports = async function smoke(gripkit) {
  const names = Object.keys(gripkit).sort();
  let body = '';
  const server = http.createServer((req, res) => {
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end('Published\n'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const publisher = gripkit.createPublisher({ gripUrl: `http://127.0.0.1:${server.address().port}` });
  await publisher.publish('smoke', 'hello');
  await publisher.close();
  server.close();
  const token = await gripkit.signGripSig({ key: Buffer.from('changeme'), iss: 'pushpin' });
  const verified = await gripkit.verifyGripSig(token, [{ key: Buffer.from('changeme'), iss: 'pushpin' }]);
  process.stdout.write(JSON.stringify({ names, published: JSON.parse(body).items[0].channel, verified }));
};
