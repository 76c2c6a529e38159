/**
 * The SDK stores a stack trace on every promise it makes (`debuggablePromise`, several per resource
 * property), read only by its report of promises still pending at exit. The source-map support the
 * language host installs (ts-node's) maps every frame of each as it is taken: ~0.8 of the program's
 * 5.4 CPU s in a 20-host run. `Error.stackTraceLimit` would cut those too, but also every stack of
 * ours; so only the SDK's promise stacks are left unmapped (V8's own format, frames as the bundle
 * has them), and every other stack goes to the formatter that was installed.
 */
export function skipMappingPromiseStacks(format: NonNullable<typeof Error.prepareStackTrace>): typeof Error.prepareStackTrace {
  return (error, frames) =>
    isSdkPromiseStack(frames) ? [String(error), ...frames].join("\n    at ") : format(error, frames);
}

function isSdkPromiseStack(frames: NodeJS.CallSite[]): boolean {
  return frames[0]?.getFunctionName() === "debuggablePromise" && /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/.test(frames[0].getFileName() ?? "");
}
