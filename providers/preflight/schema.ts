import { z } from "zod";
import { commonInputs } from "../ssh/schema";
import { Fail2banJail } from "../fail2ban/schema";
import { packageNameSchema } from "../packages/schema";
import { UfwDefaults, UfwLockoutGuard, UfwRule } from "../ufw/schema";

// What a host's preflight checks, taken from the program's config for that host:
// a change of any of it runs the check again before anything on the host changes.
export const preflightInputsSchema = z.strictObject({
  ...commonInputs,
  packages: z
    .strictObject({
      needed: z.array(packageNameSchema).describe("Debian packages the hardening uses on this host."),
      install: z.boolean().describe("Whether the Packages resource installs the missing ones."),
    })
    .describe("Packages that must be installed, or installable."),
  ufw: z
    .strictObject({
      enabled: z.boolean().describe("Whether ufw is switched on."),
      routed: UfwDefaults.shape.routed,
      allowForwardDeny: UfwDefaults.shape.allowForwardDeny,
      incoming: UfwDefaults.shape.incoming,
      sshPort: UfwLockoutGuard.shape.sshPort,
      rules: z.array(UfwRule).describe("The program's rules for this host, in order."),
    })
    .describe("What the guards of switching ufw on need: the guests' network, this program's SSH connection, the node's cluster."),
  jails: z.array(Fail2banJail).describe("The jails, as in the config: each enabled one must find its log files or the journal."),
});

export type PreflightInputs = z.output<typeof preflightInputsSchema>;

/** What a preflight saw on the node before any change. */
export interface PreflightObserved {
  /** fail2ban-client -t's errors on the configuration as found; empty when it passed or fail2ban is missing. */
  fail2banTestErrors: string[];
}
