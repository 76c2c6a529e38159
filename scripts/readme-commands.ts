import { readFileSync } from "node:fs";
import { join } from "node:path";

// The README's shell commands, read from README.md itself: the demo prints them and
// test/readme.test.ts runs them, so neither can drift from what a reader is told to type.

/**
 * The lines of the ```sh blocks under `heading` (up to the next heading of the same or a higher
 * level), in order, blank lines dropped; each line is one command as a user would type it.
 */
export function sectionCommands(markdown: string, heading: string): string[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`no heading "${heading}" in the README`);
  const level = heading.split(" ")[0].length;
  const commands: string[] = [];
  let inBlock = false;
  for (const line of lines.slice(start + 1)) {
    const next = /^(#+) /.exec(line);
    if (!inBlock && next && next[1].length <= level) break;
    if (line.startsWith("```")) inBlock = !inBlock && line === "```sh";
    else if (inBlock && line.trim() !== "") commands.push(line);
  }
  return commands;
}

export const readmePath = join(__dirname, "..", "README.md");

export function readmeCommands(heading: string): string[] {
  return sectionCommands(readFileSync(readmePath, "utf8"), heading);
}
