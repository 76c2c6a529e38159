import * as pulumi from "@pulumi/pulumi";
import { dynamicResource } from "../core/shim";
import { preflightKind } from "./kinds";
import { PreflightObserved } from "./schema";

export class PreflightResource extends dynamicResource(preflightKind, ["observed"]) {
  declare readonly observed: pulumi.Output<PreflightObserved | undefined>;
}
