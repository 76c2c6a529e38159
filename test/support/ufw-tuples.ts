// ufw's tuple lines written back from parsed tuples: the product only reads them (it changes
// rules through ufw itself); the tests use this to prove the parser loses nothing.
import type { UfwTuple } from "../../providers/ufw/tuples";

/** Renders a tuple exactly as ufw writes it after "### tuple ### ". */
export function formatTuple(tuple: UfwTuple): string {
  const action = `${tuple.route ? "route:" : ""}${tuple.action}${tuple.log ? `_${tuple.log}` : ""}`;
  let ifaces: string = tuple.direction;
  if (tuple.interfaceIn && tuple.interfaceOut) ifaces = `in_${tuple.interfaceIn}!out_${tuple.interfaceOut}`;
  else if (tuple.interfaceIn || tuple.interfaceOut) ifaces = `${tuple.direction}_${tuple.interfaceIn || tuple.interfaceOut}`;
  const fields = [action, tuple.protocol, tuple.dport, tuple.dst, tuple.sport, tuple.src];
  if (tuple.dapp || tuple.sapp) {
    const app = (name: string) => (name ? name.replace(/ /g, "%20") : "-");
    fields.push(app(tuple.dapp), app(tuple.sapp));
  }
  fields.push(ifaces);
  const comment = tuple.comment ? ` comment=${Buffer.from(tuple.comment, "utf8").toString("hex")}` : "";
  return `${fields.join(" ")}${comment}`;
}
