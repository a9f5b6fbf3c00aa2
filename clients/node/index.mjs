// ESM entry point: the same functions as the CommonJS one (one module state per process
// thread, whichever way the package is imported).
import runwire from './index.cjs';

export const {
  getEnv,
  getEnvs,
  ignoreInput,
  ignoreOutput,
  disableCache,
  reportInput,
  reportOutput,
  reportGlob,
  salt,
  isActive,
} = runwire;
export default runwire;
