// The wire format on its own: messages and codec, for tools that speak the protocol directly.
export * from "./messages.js";
export { encode, decode, binOf, floatsOf } from "./codec.js";
export { parseRequest, seqOf } from "./requests.js";
