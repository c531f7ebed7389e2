// verdict-wasm, fast flavor, for Node (CommonJS): ready on require; reads
// ../verdict_fast_bg.wasm synchronously. `init()` resolves at once.
"use strict";
const glue = require("../glue/fast.cjs");
const { makeApi } = require("../lib/api.cjs");
const { VerdictError } = require("../lib/error.cjs");

const api = makeApi(glue, VerdictError, "fast");
module.exports = { ...api, VerdictError, default: api.init };
