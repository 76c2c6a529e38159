/**
 * Every jail option beside the name, filter, ports, logs and ban-time
 * increment, with values fail2ban accepts: the renderer's unit test checks
 * the text, the fail2ban-regex test has the real fail2ban read it.
 */
export const everyOtherJailOption = {
  bantime: "1d",
  findtime: "10m",
  maxretry: 5,
  ignoreip: ["192.0.2.0/24", "2001:db8::1"],
  banaction: "nftables-multiport",
  banaction_allports: "nftables-allports",
  usedns: "no",
  chain: "INPUT",
  action: "action_mwl",
  destemail: "root@example.org",
  sender: "fail2ban@example.org",
};
