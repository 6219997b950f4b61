export { isAlive } from '../../src/cli/process-alive.js';
