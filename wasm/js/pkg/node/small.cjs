// verdict-wasm, small flavor, for Node (CommonJS): ready on require; reads
// ../verdict_bg.wasm synchronously. `init()` resolves at once.
"use strict";
const glue = require("../glue/small.cjs");
const { makeApi } = require("../lib/api.cjs");
const { VerdictError } = require("../lib/error.cjs");

const api = makeApi(glue, VerdictError, "small");
module.exports = { ...api, VerdictError, default: api.init };
