/**
 * Layer 6, the command sandbox, split by role under src/policy/sandbox/:
 *   detect.ts        which sandbox works here (bubblewrap, sandbox-exec)
 *   mounts.ts        the default-deny mount table (and git-view.ts: the read-only git data)
 *   bwrap.ts         the table as bubblewrap flags; seatbelt.ts as a macOS profile
 *   env.ts           the environment allow-list
 *   limits.ts        processes, memory and CPU limits (cgroup.ts: the groups themselves)
 *   runner.ts        runs one command in it
 *   layer.ts         the policy layer
 *   explain.ts       `kairos policy explain --sandbox`
 */
export { detectSandbox, NO_SANDBOX, type SandboxStatus } from './sandbox/detect.js';
export { sandboxLayer } from './sandbox/layer.js';
export { runSandboxed, runSandboxedArgv, type SandboxRunOptions, type SandboxResult } from './sandbox/runner.js';
export { sandboxEnv } from './sandbox/env.js';
