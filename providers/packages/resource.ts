import { dynamicResource } from "../core/shim";
import { packagesKind } from "./kinds";

export const PackagesResource = dynamicResource(packagesKind);
