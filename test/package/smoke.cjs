// The CommonJS build, loaded with require() (ESM-only dependencies are bundled into it).
require('./smoke-body.cjs')(require('../../dist/index.cjs')).catch((err) => {
  console.error(err);
  process.exit(1);
});
