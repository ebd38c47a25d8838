// Finds (and where needed unpacks) Chromium once, before any test file runs: the
// forks would otherwise race to unpack the same archive. Test files read the path
// with inject("chromium").
import type { TestProject } from "vitest/node";
import { findChromium } from "../helpers/tools.js";

declare module "vitest" {
  export interface ProvidedContext {
    chromium: string;
  }
}

export async function setup(project: TestProject): Promise<void> {
  project.provide("chromium", await findChromium());
}
