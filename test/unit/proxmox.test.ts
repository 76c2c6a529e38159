import assert from "node:assert/strict";
import { test } from "node:test";
import {
  desiredValues,
  keysToSet,
  optionsFromLive,
  parseOptionsJson,
  parseRateLimit,
  previousValues,
  restoreArgs,
  setArgs,
} from "../../providers/proxmox/logic";
import { clusterFirewallOptionsSchema } from "../../providers/proxmox/schema";

test("desired values: the seed turns the cluster firewall off; other options only when given", () => {
  assert.deepEqual(desiredValues(clusterFirewallOptionsSchema.parse({})), { enable: "0" });
  assert.deepEqual(
    desiredValues(
      clusterFirewallOptionsSchema.parse({ enable: true, policy_in: "DROP", ebtables: false, log_ratelimit: { enable: true, rate: "1/second", burst: 5 } }),
    ),
    { enable: "1", policy_in: "DROP", ebtables: "0", log_ratelimit: "enable=1,rate=1/second,burst=5" },
  );
});

test("pvesh json: absent enable reads as off for drift, yet is written explicitly", () => {
  const live = parseOptionsJson("{}\n");
  assert.equal(optionsFromLive(clusterFirewallOptionsSchema.parse({}), live).enable, false);
  assert.deepEqual(keysToSet({ enable: "0" }, live), ["enable"]);
  assert.deepEqual(keysToSet({ enable: "0" }, parseOptionsJson('{"enable":0}')), []);
  assert.deepEqual(keysToSet({ enable: "0" }, parseOptionsJson('{"enable":1,"policy_in":"DROP"}')), ["enable"]);
  assert.deepEqual(parseOptionsJson('{"enable":1,"policy_in":"DROP"}'), { enable: "1", policy_in: "DROP" });
  assert.throws(() => parseOptionsJson("[]"), /not a JSON object/);
});

test("previous values remember unset as null and restore unsets it with --delete", () => {
  const previous = previousValues({ enable: "0", policy_in: "DROP" }, { enable: "1" });
  assert.deepEqual(previous, { enable: "1", policy_in: null });
  assert.deepEqual(restoreArgs(previous), ["pvesh", "set", "/cluster/firewall/options", "--enable", "1", "--delete", "policy_in"]);
  assert.deepEqual(restoreArgs({ enable: null }), ["pvesh", "set", "/cluster/firewall/options", "--delete", "enable"]);
  assert.equal(restoreArgs({}), undefined);
  assert.deepEqual(setArgs({ enable: "0" }), ["pvesh", "set", "/cluster/firewall/options", "--enable", "0"]);
});

test("live options map back to the resource's shape so refresh shows drift", () => {
  const desired = clusterFirewallOptionsSchema.parse({ policy_in: "DROP", log_ratelimit: { rate: "1/second" } });
  const observed = optionsFromLive(desired, { enable: "1", policy_in: "ACCEPT", log_ratelimit: "enable=0" });
  assert.equal(observed.enable, true);
  assert.equal(observed.policy_in, "ACCEPT");
  assert.deepEqual(observed.log_ratelimit, { enable: false });
  assert.deepEqual(parseRateLimit("enable=1,rate=10/minute,burst=3"), { enable: true, rate: "10/minute", burst: 3 });
});

test("options schema refuses what Proxmox refuses", () => {
  for (const bad of [{ enable: "yes" }, { policy_in: "drop" }, { policy_forward: "REJECT" }, { log_ratelimit: { rate: "1/fortnight" } }, { unknown: 1 }]) {
    assert.equal(clusterFirewallOptionsSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
