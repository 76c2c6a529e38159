// Runs the setup's steps (npm ci, the sandbox's Debian packages, the toolchain) with their
// output streamed as usual, and turns a failure into a message a person can act on: which
// step, the command, its exit code, the last lines of its output and what to do next,
// instead of a stack trace from deep inside Node.
import { spawn } from "node:child_process";

const TAIL_LINES = 20;

/** The last `count` non-empty lines of `text`. */
export function lastLines(text, count = TAIL_LINES) {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "").slice(-count);
}

/**
 * The message for a step that failed. `exit` is the exit code, or the signal that ended the
 * command, or the error that kept it from starting (types: steps.d.mts).
 */
export function formatStepFailure({ step, command, exit, output, fix }) {
  const how = exit.error ? `could not start: ${exit.error}` : exit.signal ? `was ended by ${exit.signal}` : `exited ${exit.code}`;
  const tail = lastLines(output);
  return [
    `[setup] step "${step}" failed: \`${command.join(" ")}\` ${how}`,
    ...(tail.length ? [`[setup] its last ${tail.length} line(s) of output:`, ...tail.map((line) => `    ${line}`)] : ["[setup] it printed nothing"]),
    `[setup] what to do: ${fix}`,
  ].join("\n") + "\n";
}

/**
 * Runs one step; its output goes to ours as it comes (a cold toolchain build talks for
 * minutes) and is kept for the message. Resolves when it succeeds; on failure prints the
 * message and exits with the step's code (1 when it has none).
 */
export function runStep({ step, command, cwd, fix }) {
  return new Promise((resolve) => {
    let output = "";
    const keep = (chunk, stream) => {
      stream.write(chunk);
      // Enough for the tail without keeping a long build log in memory.
      output = (output + chunk.toString()).slice(-64 * 1024);
    };
    const fail = (exit) => {
      process.stderr.write(formatStepFailure({ step, command, exit, output, fix }));
      process.exit(exit.code || 1);
    };
    const child = spawn(command[0], command.slice(1), { cwd, stdio: ["inherit", "pipe", "pipe"] });
    child.stdout.on("data", (chunk) => keep(chunk, process.stdout));
    child.stderr.on("data", (chunk) => keep(chunk, process.stderr));
    child.on("error", (error) => fail({ error: error.message }));
    child.on("close", (code, signal) => (code === 0 ? resolve() : fail({ code, signal })));
  });
}
