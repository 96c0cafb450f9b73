// JSX-like templates without a build step: htm tagged templates over preact's h().
import { h } from "../vendor/preact.js";
import htm from "../vendor/htm.js";

export const html = htm.bind(h);
