import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * The built package (npm test builds it first, see "pretest") loads from both
 * module systems with the same exports, and the ESM-only dependencies work
 * from each build.
 */
describe('the published package', () => {
  const smoke = async (file: string) => JSON.parse((await run(process.execPath, [path.join(root, 'test/package', file)], { cwd: root })).stdout);

  it('works through require() and through import, with the same exports', async () => {
    const [cjs, esm] = await Promise.all([smoke('smoke.cjs'), smoke('smoke.mjs')]);
    expect(cjs).toEqual({ names: expect.arrayContaining(['createGrip', 'createPublisher', 'gripMiddleware', 'GripError', 'formatSseEvent']), published: 'smoke', verified: true });
    expect(esm).toEqual(cjs);
  });

  it('points each module system at its own type declarations', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].import.types).toBe('./dist/index.d.ts');
    expect(pkg.exports['.'].require.types).toBe('./dist/index.d.cts');
    for (const file of ['index.d.ts', 'index.d.cts', 'index.js', 'index.cjs']) expect(readFileSync(path.join(root, 'dist', file), 'utf8').length).toBeGreaterThan(0);
  });
});
