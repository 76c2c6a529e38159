import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { diffInputs } from "../../providers/core/diff";
import { formatFailure, redact } from "../../providers/core/errors";
import { validate } from "../../providers/core/validate";

test("diff: replace keys replace, others update in place, bookkeeping never counts", () => {
  const olds = { name: "a", port: 22, previous: { x: 1 }, __provider: "old" };
  assert.deepEqual(diffInputs(olds, { name: "a", port: 22, __provider: "new" }, ["name"], ["previous", "__provider"]), {
    changes: false,
    replaces: [],
    stables: ["name", "port"],
    deleteBeforeReplace: false,
  });
  const changed = diffInputs(olds, { name: "b", port: 2222 }, ["name"], ["previous", "__provider"]);
  assert.equal(changed.changes, true);
  assert.deepEqual(changed.replaces, ["name"]);
  assert.equal(changed.deleteBeforeReplace, true);
  assert.deepEqual(diffInputs({ list: [1, 2] }, { list: [1, 2] }, []).changes, false);
});

test("validation failures name host, resource and the field's path", () => {
  const schema = z.strictObject({ rules: z.array(z.strictObject({ port: z.number().max(65535) })) });
  const checked = validate(schema, { rules: [{ port: 22 }, { port: 70000 }] }, { host: "pve1", resource: "ufw:Rule allow" });
  assert.equal(checked.ok, false);
  if (checked.ok) return;
  assert.equal(checked.failures[0].property, "rules");
  assert.match(checked.failures[0].reason, /^\[host pve1, resource ufw:Rule allow, field rules\[1\]\.port\] /);
});

test("failure messages carry the command, exit code, stderr tail and a next step; secrets are redacted", () => {
  const message = formatFailure({ host: "pve1", resource: "fail2ban:Reload" }, "fail2ban-client -t failed", "fix the filter", {
    command: "fail2ban-client -t",
    exitCode: 255,
    stderr: "l1\nl2\nl3\nl4\nl5\nl6\nERROR  No section: 'Definition'",
  });
  assert.match(message, /exit code: 255/);
  assert.match(message, /ERROR  No section/);
  assert.doesNotMatch(message, /l1/);
  assert.match(message, /next: fix the filter/);
  assert.equal(redact("password hunter22 in text", ["hunter22", undefined, ""]), "password [secret] in text");
});
