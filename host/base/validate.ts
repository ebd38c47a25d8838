// The checks options share, with the same words everywhere.
import { errors, quote } from "./errors.js";

/**
 * An integer option in [min, max] (no upper bound when max is omitted), or `fallback`
 * when it is absent; anything else is E_CONFIG naming the field.
 */
export function integerOption(value: unknown, field: string, min: number, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? "a positive integer" : `an integer ≥ ${min}`) : `an integer from ${min} to ${max}`;
    throw errors.config(field, `must be ${range} (got ${quote(value)})`);
  }
  return value;
}
