/**
 * verdict-wasm: Verdict's SQL data-access policy engine, compiled to WebAssembly.
 *
 * Two forms of every operation:
 * - the **object form** (`evaluate`, `validate`, `PolicyEngine#evaluate`) takes and returns
 *   plain JS objects; bad input is **thrown** as a {@link VerdictError};
 * - the **JSON form** (`evaluateJson`, `validateJson`, `PolicyEngine#evaluateJson`) takes
 *   and returns strings, never throws for bad input, and answers exactly the bytes the
 *   `verdict` CLI prints: the verdict JSON, the validation summary, or `{"error": {...}}`.
 *
 * Every entry point (`verdict-wasm`, `/small`, `/fast`, `/web`, `/node`) exports this API.
 * In Node and workerd the engine is ready on import; in pages and bundles, `await init()`
 * once first (it resolves at once where the engine is already loaded).
 *
 * The literal unions between the GENERATED markers are written from the engine's own
 * lists by `cargo test -p verdict-wasm --test types` (VERDICT_BLESS=1 rewrites them).
 */

// ------------------------------------------------------------------ engine vocabulary

// BEGIN GENERATED (cargo test -p verdict-wasm --test types)
/** Every `code` of a VerdictError or an `{"error": {...}}` document. */
export type ErrorCode =
  | "engine_freed"
  | "internal_error"
  | "invalid_arguments"
  | "invalid_column"
  | "invalid_context"
  | "invalid_input"
  | "invalid_options"
  | "invalid_policy"
  | "invalid_request"
  | "invalid_row"
  | "invalid_table"
  | "invalid_tests"
  | "io_error"
  | "not_initialized"
  | "proxy_error"
  | "server_error"
  | "unknown_column"
  | "unknown_relation"
  | "unsupported_dialect"
  | "yaml_unsupported";

/** What decided a verdict (`verdict.rule`). */
export type VerdictRule =
  | "allow"
  | "row_filter"
  | "column_mask"
  | "deny"
  | "default_deny"
  | "missing_context"
  | "invalid_context"
  | "parse_error"
  | "empty_statement"
  | "unsupported_statement"
  | "unsupported_syntax"
  | "unknown_relation"
  | "unknown_function"
  | "denied_function"
  | "query_restriction"
  | "query_limit"
  | "catalog_required"
  | "output_limit"
  | "foreign_key_action";

/** The kinds of column masks. */
export type MaskKind =
  | "null"
  | "redact"
  | "hash"
  | "partial"
  | "email"
  | "date_year"
  | "constant";

/** Statement kinds of `deny.operations`, `query_restriction.statements` and `require_where`. */
export type Operation =
  | "select"
  | "insert"
  | "update"
  | "delete"
  | "ddl";

/** SQL dialects (`options.dialect`; the engine also accepts them in any case). */
export type Dialect =
  | "postgres"
  | "postgresql";

/** A policy's mode: `monitor` policies only report what they would do. */
export type PolicyMode =
  | "enforce"
  | "monitor";

/** What kind of validation problem a `Problem` is. */
export type ProblemKind =
  | "syntax"
  | "unknown_field"
  | "missing"
  | "wrong_type"
  | "invalid_value"
  | "duplicate"
  | "predicate"
  | "catalog";
// END GENERATED

// ----------------------------------------------------------------------------- inputs

/** Subjects of `applies_to` / `except`. */
export interface Subjects {
  users?: string[];
  roles?: string[];
  workspaces?: string[];
  data_sources?: string[];
  purposes?: string[];
  datasets?: string[];
  queries?: string[];
}

/** Masks of a `column_mask` rule: an object tagged by `kind`, or the kind alone (`"hash"`). */
export type Mask =
  | { kind: "null" }
  | { kind: "redact" | "full"; replacement?: string | null }
  | { kind: "hash" }
  | { kind: "partial"; show_first?: number; show_last?: number; pad?: string | null }
  | { kind: "email" }
  | { kind: "date_year" }
  | { kind: "constant"; value: string | number | boolean | null }
  | MaskKind
  | "full";

/** One rule of a policy, tagged by `type`. */
export type Rule =
  | { type: "row_filter"; table: string; predicate: string; description?: string }
  | { type: "column_mask"; table: string; column: string; mask: Mask; description?: string }
  | { type: "deny"; table: string; columns?: string[]; operations?: Operation[]; description?: string }
  | {
      type: "data_retention";
      table: string;
      /** The row's date or timestamp column. */
      column: string;
      /** How long rows stay visible, such as `"90 days"` or `"1 year"`. */
      keep: string;
      description?: string;
    }
  | {
      type: "query_restriction";
      statements?: Operation[];
      denied_functions?: string[];
      /** `true` means UPDATE and DELETE. */
      require_where?: boolean | Operation[];
      description?: string;
    }
  | {
      type: "query_limit";
      max_rows?: number;
      max_joins?: number;
      queries_per_hour?: number;
      queries_per_day?: number;
      max_execution_ms?: number;
      description?: string;
    };

export interface Policy {
  id: string;
  name?: string;
  description?: string;
  enabled?: boolean;
  priority?: number;
  mode?: PolicyMode;
  applies_to?: Subjects;
  except?: Subjects;
  break_glass_allowed?: boolean;
  compliance_tags?: string[];
  purpose_tags?: string[];
  labels?: Record<string, string>;
  audit_level?: "none" | "normal" | "verbose";
  rules: Rule[];
}

export interface CatalogColumn {
  name: string;
  /** A PostgreSQL type: `integer`, `text`, `numeric(10,2)`, `public.mood`, … */
  type?: string;
  nullable?: boolean;
  description?: string;
}

/** What PostgreSQL does to referencing rows (`ON DELETE …` / `ON UPDATE …`). */
export type ForeignKeyAction = "no action" | "restrict" | "cascade" | "set null" | "set default";

/** A foreign key of a catalog table: a writing action (cascade, set null, set default)
 * onto a table the caller's policies govern blocks the DELETE or key UPDATE
 * (`foreign_key_action`). */
export interface ForeignKey {
  columns: string[];
  references: string;
  referenced_columns?: string[];
  on_delete?: ForeignKeyAction;
  on_update?: ForeignKeyAction;
}

export interface CatalogTable {
  name: string;
  /** Column names, or columns with their types. */
  columns: (string | CatalogColumn)[];
  description?: string;
  foreign_keys?: ForeignKey[];
}

/** An application function a strict catalog lets callers use. */
export interface CatalogFunction {
  name: string;
  /** Absent: true (a call is blocked). */
  reads_governed_tables?: boolean;
}

export interface Catalog {
  tables: CatalogTable[];
  functions?: CatalogFunction[];
  /** `deny`: a governed table no enforced policy naming it applies to is blocked. */
  default_access?: "allow" | "deny";
}

/** A policy set object: its policies and an optional catalog. */
export interface PolicySet {
  catalog?: Catalog;
  policies: Policy[];
}

/**
 * A policy set in any of the three file shapes (`{policies: [...]}`, an array of policies,
 * one policy), or its JSON text. The package reads no YAML: YAML text is the error
 * `yaml_unsupported`.
 */
export type PolicySetInput = PolicySet | Policy[] | Policy | string;

/** Who runs the statement, and for what. Attribute values are JSON values. */
export interface Context {
  user?: string | null;
  roles?: string[] | null;
  attributes?: Record<string, unknown> | null;
  purpose?: string | null;
  workspace?: string | null;
  data_source?: string | null;
  break_glass?: boolean | null;
  /** The dataset the statement reads, for policies scoped by `applies_to.datasets`. */
  dataset?: string | null;
  /** The saved query's id, for policies scoped by `applies_to.queries`. */
  query_id?: string | null;
}

/** A context, its JSON text, or nothing for the empty context. */
export type ContextInput = Context | string | null | undefined;

/** Evaluation options. */
export interface Options {
  /** `postgres` (the default) or `postgresql`, in any case; others are `unsupported_dialect`. */
  dialect?: Dialect | null;
}

// ---------------------------------------------------------------------------- outputs

export interface MaskedColumn {
  table: string;
  column: string;
  kind: MaskKind;
  policy: string;
  rule_index: number;
}

export interface AppliedRowFilter {
  table: string;
  predicate: string;
  policy: string;
  rule_index: number;
}

export interface MatchedPolicy {
  id: string;
  mode: PolicyMode;
}

/** A stateful limit for the caller to enforce (also described in `notes`). */
export interface Limit {
  policy: string;
  rule_index: number;
  kind: "queries_per_hour" | "queries_per_day" | "max_execution_ms";
  value: number;
}

/** What a `monitor` policy would have done. */
export interface Monitored {
  policy: string;
  rule_index: number;
  would: "block" | "row_filter" | "mask";
  table?: string;
  column?: string;
  /** The block's reason, the filter's predicate, or the mask's kind. */
  detail: string;
}

interface VerdictFields {
  /** What decided it. */
  rule: VerdictRule;
  reason: string;
  hint: string;
  masked_columns: MaskedColumn[];
  row_filters: AppliedRowFilter[];
  matched_policies: MatchedPolicy[];
  notes: string[];
  /** Present when some rule sets a limit for the caller to enforce. */
  limits?: Limit[];
  /** Present when a `monitor` policy would have acted. */
  monitored?: Monitored[];
  /** Sentences a person can read: which policy and rule produced each filter, mask, block. */
  explanation: string[];
}

/** A statement that may run, as `rewritten_sql`. */
export interface AllowedVerdict extends VerdictFields {
  verdict: "allow" | "mask" | "row_filter";
  /** The SQL to run: the statement with row filters and masks applied. */
  rewritten_sql: string;
  /** Every row filter ANDed together, when any applies. */
  row_filter_predicate?: string;
  blocked_by?: undefined;
}

/** A statement that may not run. */
export interface BlockedVerdict extends VerdictFields {
  verdict: "block";
  rewritten_sql?: undefined;
  row_filter_predicate?: undefined;
  /** The policy rule that blocked it; absent for blocks no rule made (parse errors, …). */
  blocked_by?: { policy: string; rule_index: number };
}

/** The engine's answer for one SQL text: test `verdict` to narrow. */
export type Verdict = AllowedVerdict | BlockedVerdict;

export type Decision = Verdict["verdict"];

/** One validation problem, located as precisely as the input allows. */
export interface Problem {
  policy?: string;
  policy_index?: number;
  rule_index?: number;
  /** What kind of problem it is, for programs (the message is for people). */
  kind: ProblemKind;
  /** The field as a path, such as `rules[2].mask.show_last`. */
  field: string;
  message: string;
  /** 1-based, inside the predicate (or the file, for a syntax error). */
  line?: number;
  column?: number;
}

/** The fields of an error, as in the CLI's `{"error": {...}}` document. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  /** Every problem found, for `invalid_policy`. */
  problems?: Problem[];
}

/**
 * What the object forms throw. A class at run time: `e instanceof VerdictError` holds for
 * every VerdictError the package throws, whichever entry point or flavor threw it.
 */
export class VerdictError extends Error implements ErrorInfo {
  constructor(code: ErrorCode, message: string, problems?: Problem[]);
  readonly name: "VerdictError";
  code: ErrorCode;
  problems?: Problem[];
  toJSON(): ErrorInfo;
}

/** The `{"error": {...}}` document. */
export interface ErrorDocument {
  error: ErrorInfo;
}

/** What `validate` answers for a set that loads (the same fields as `verdict validate`). */
export interface ValidationSummary {
  valid: true;
  policies: number;
  rules: number;
  /** The catalog's tables (0 without a catalog). */
  tables: number;
  /** The distinct tables that rules name. */
  governed_tables: number;
}

/** `validate`'s answer: the summary, or the error with every problem. Test `"error" in result`. */
export type ValidationResult = ValidationSummary | ErrorDocument;

// -------------------------------------------------------------------------- functions

/**
 * Evaluates one SQL text for one context.
 * @throws {VerdictError} for an invalid policy set, context or options; never for the SQL:
 *   SQL that cannot be judged is a `block` verdict.
 */
export function evaluate(
  policySet: PolicySetInput,
  sql: string,
  context?: ContextInput,
  options?: Options | null,
): Verdict;

/**
 * Evaluates with JSON texts (YAML text is the error `yaml_unsupported`).
 * @returns the verdict JSON, or the `{"error": {...}}` document, as the CLI prints them.
 */
export function evaluateJson(
  policySetJson: string,
  sql: string,
  contextJson?: string | null,
  optionsJson?: string | null,
): string;

/** Validates a policy set: its summary, or every problem with its position. */
export function validate(policySet: PolicySetInput): ValidationResult;

/** Validates a policy set text. @returns what `verdict validate` prints. */
export function validateJson(policySetJson: string): string;

/** A policy test suite: statements, contexts and the verdicts expected. */
export interface TestSuite {
  tests: {
    name: string;
    context?: Context;
    sql: string;
    expect: Partial<{ verdict: Decision; rule: VerdictRule }> & Record<string, unknown>;
  }[];
}

/**
 * Runs a policy test suite against a policy set. Each argument is a JSON text or an object.
 * @param options `{mutate: true}` adds mutation testing (each rule dropped or weakened).
 * @returns the report JSON (`verdict test --format json --coverage [--mutate]`), or the
 *   `{"error": {...}}` document.
 */
export function runTests(
  policySet: PolicySetInput,
  tests: string | TestSuite,
  options?: string | { mutate?: boolean } | null,
): string;

/** A request of `explainRow`: a row as column values, and whom to explain it for. */
export interface ExplainRowRequest {
  /** `orders` or `schema.orders`. */
  table: string;
  /** Column values, as the row holds them. */
  row: Record<string, unknown>;
  context?: ContextInput;
  /** Columns that pick the row in the diagnostic query (default: `id`, else every column given). */
  key?: string[];
}

/**
 * Why a row is visible or hidden. Each argument is a JSON text or an object.
 * @returns the explanation JSON (what `verdict explain-row` prints), or the
 *   `{"error": {...}}` document.
 */
export function explainRow(policySet: PolicySetInput, request: string | ExplainRowRequest): string;

/** A principal of `whoSees`: a context, or a named context with exceptions. */
export type WhoSeesPrincipal =
  | Context
  | {
      name?: string;
      context: ContextInput;
      exceptions?: { policy: string; rules?: number[] }[];
    };

/**
 * How each principal sees a column. Each argument is a JSON text or an object.
 * @returns the report JSON (what `verdict who-sees` prints), or the `{"error": {...}}` document.
 */
export function whoSees(
  policySet: PolicySetInput,
  request: string | { table: string; column: string; principals: WhoSeesPrincipal[] },
): string;

/** The package version. */
export function version(): string;

/** Which build of the engine this entry point loaded. */
export const flavor: "small" | "fast";

/** Where `init` finds the module: a URL, a response, its bytes, or a compiled module. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/**
 * Loads the engine; call (and await) it once before anything else in pages and bundles.
 * Without an argument it fetches the `.wasm` next to the package's glue (Vite and webpack
 * 5 bundle it). Resolves at once in Node and workerd, where the engine loads on import.
 */
export default function init(options?: { module_or_path: InitInput | Promise<InitInput> }): Promise<void>;
export { init };

/** Loads the engine synchronously from its bytes or a compiled module. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): void;

/** What `JSON.stringify(engine)` writes. */
export type PolicyEngineJson =
  | { PolicyEngine: { freed: true } }
  | { PolicyEngine: ValidationSummary & { flavor: "small" | "fast" } };

/**
 * A policy set validated once, for evaluating many statements. Call `free()` when done
 * (or, where the runtime has `Symbol.dispose`, `using engine = new PolicyEngine(...)`);
 * otherwise the memory is reclaimed when the object is collected. Any call after `free()`
 * throws the VerdictError `engine_freed`.
 */
export class PolicyEngine {
  /** @throws {VerdictError} listing every problem of an invalid policy set. */
  constructor(policySet: PolicySetInput, options?: Options | null);
  /** @throws {VerdictError} for an invalid context. */
  evaluate(sql: string, context?: ContextInput): Verdict;
  /** The verdict JSON or the error document. */
  evaluateJson(sql: string, contextJson?: string | null): string;
  /** What `validate` answers for this set. */
  summary(): ValidationSummary;
  /** Whether `free()` was called. */
  readonly freed: boolean;
  /** Releases the engine's memory now. Idempotent. */
  free(): void;
  toJSON(): PolicyEngineJson;
}

// `Symbol.dispose` only where the program's lib declares it (esnext, es2025's disposable):
// with lib es2022 this resolves to an empty interface and nothing is required.
type DisposeKey = SymbolConstructor extends { readonly dispose: infer K extends symbol } ? K : never;
export interface PolicyEngine extends Record<DisposeKey, () => void> {}
