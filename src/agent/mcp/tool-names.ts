import { createHash } from 'node:crypto';

/**
 * How an MCP tool is named for the model: `mcp__<server>__<tool>`, the form Claude Code uses and
 * src/policy/rules.ts parses (split at the first "__", which is why server names may not hold "__").
 *
 * The Messages API accepts tool names matching ^[a-zA-Z0-9_-]{1,64}$, while MCP tool names may hold
 * dots, slashes or anything else, and be long. So a name is sanitised (other characters become "_")
 * and, when too long or already taken, shortened with a hash of the original, so two different MCP
 * tools never share a name and the same tool gets the same name on every run.
 */

export const TOOL_NAME_MAX = 64;
const ALLOWED = /[^A-Za-z0-9_-]/g;

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

export class ToolNamer {
  private readonly taken = new Set<string>();

  /** A name no other (server, tool) pair of this namer has, within the API's charset and length. */
  assign(server: string, tool: string): string {
    const full = `mcp__${server}__${tool.replace(ALLOWED, '_') || '_'}`;
    let name = full.length <= TOOL_NAME_MAX ? full : withHash(full, `${server}\0${tool}`);
    if (this.taken.has(name)) name = withHash(full, `${server}\0${tool}`);
    // A hash collision among one server's tools is astronomically unlikely; count on rather than hope.
    for (let n = 2; this.taken.has(name); n++) name = withHash(full, `${server}\0${tool}\0${n}`);
    this.taken.add(name);
    return name;
  }
}

function withHash(name: string, key: string): string {
  return `${name.slice(0, TOOL_NAME_MAX - 9)}_${shortHash(key)}`;
}
