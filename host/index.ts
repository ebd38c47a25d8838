// gradline as a library: the engine API.
export * from "./engine/index.js";
