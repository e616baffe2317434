/**
 * `express4` is the devDependency alias `npm:express@^4`. Its API is the one
 * @types/express describes closely enough for the tests (app, routing, res.json).
 */
declare module 'express4' {
  export { default } from 'express';
}
