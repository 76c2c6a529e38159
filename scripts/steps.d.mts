// Types of steps.mjs (plain JavaScript, so that setup runs before any npm package is installed).
export interface StepExit {
  code?: number | null;
  signal?: string | null;
  error?: string;
}
export interface StepFailure {
  step: string;
  command: string[];
  exit: StepExit;
  output: string;
  fix: string;
}
export function lastLines(text: string, count?: number): string[];
export function formatStepFailure(failure: StepFailure): string;
export function runStep(step: { step: string; command: string[]; cwd: string; fix: string }): Promise<void>;
