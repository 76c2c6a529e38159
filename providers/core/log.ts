import * as pulumi from "@pulumi/pulumi";

// Progress and notes from the providers, through the engine's own log, so
// they show in `pulumi up` at the right verbosity: debug lines (every remote
// step) with `--debug` or `-v`, info and warnings always. The dynamic-provider
// process gets the engine's address as its first argument, but the SDK does
// not connect its log there (it prints to stdout instead, which the engine
// shows without levels); no public API sets it, so the runtime's settings
// store gets the address here, in the provider process only.
if (process.argv[1]?.includes("dynamic-provider") && process.argv[2]) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- internal module, no public equivalent
  const state = require("@pulumi/pulumi/runtime/state") as { getStore(): { settings: { options: { engineAddr?: string } } } };
  const options = state.getStore().settings.options;
  if (!options.engineAddr) options.engineAddr = process.argv[2];
}

const line = (host: string, message: string) => `[${host}] ${message}`;

export const hostLog = {
  debug: (host: string, message: string) => void pulumi.log.debug(line(host, message), undefined, undefined, true).catch(() => undefined),
  info: (host: string, message: string) => void pulumi.log.info(line(host, message)).catch(() => undefined),
  warn: (host: string, message: string) => void pulumi.log.warn(line(host, message)).catch(() => undefined),
};
