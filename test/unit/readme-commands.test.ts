import assert from "node:assert/strict";
import { test } from "node:test";
import { readmeCommands, sectionCommands } from "../../scripts/readme-commands";

test("a section's commands are the lines of its sh blocks, subsections included, nothing after it", () => {
  const markdown = [
    "## Use", "text `not this`", "```sh", "a one   # comment", "", "b two", "```",
    "```yaml", "key: value", "```", "### Sub", "```sh", "c", "```", "## Next", "```sh", "d", "```",
  ].join("\n");
  assert.deepEqual(sectionCommands(markdown, "## Use"), ["a one   # comment", "b two", "c"]);
  assert.deepEqual(sectionCommands(markdown, "### Sub"), ["c"]);
  assert.throws(() => sectionCommands(markdown, "## Missing"), /no heading "## Missing"/);
});

test("the README's setup starts from the committed stack file and ends with destroy", () => {
  const commands = readmeCommands("## Using it on your hosts");
  assert.ok(commands.some((line) => /^pulumi stack init prod\b/.test(line)));
  assert.match(commands[commands.length - 1], /^pulumi destroy\b/);
});
