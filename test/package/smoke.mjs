// The ESM build, loaded with import (dependencies come from node_modules).
import smoke from './smoke-body.cjs';
import * as gripkit from '../../dist/index.js';

smoke(gripkit).catch((err) => {
  console.error(err);
  process.exit(1);
});
