import * as pulumi from "@pulumi/pulumi";

// Progress and notes from the providers, through the engine's own log, so
// they show in `pulumi up` at the right verbosity: debug lines (every remote
// step) with `--debug` or `-v`, info and warnings always. The dynamic-provider
// process gets the engine's address as its first argument but the SDK does
// not connect its log there; pointing the SDK's variable at it does.
if (!process.env.PULUMI_NODEJS_ENGINE && process.argv[1]?.includes("dynamic-provider") && process.argv[2]) {
  process.env.PULUMI_NODEJS_ENGINE = process.argv[2];
}

const line = (host: string, message: string) => `[${host}] ${message}`;

export const hostLog = {
  debug: (host: string, message: string) => void pulumi.log.debug(line(host, message), undefined, undefined, true).catch(() => undefined),
  info: (host: string, message: string) => void pulumi.log.info(line(host, message)).catch(() => undefined),
  warn: (host: string, message: string) => void pulumi.log.warn(line(host, message)).catch(() => undefined),
};
