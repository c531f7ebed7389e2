/**
 * Verdict's SQL data-access policy engine, compiled to WebAssembly.
 *
 * Two forms of every operation:
 * - the **object form** (`evaluate`, `validate`, `PolicyEngine#evaluate`) takes and returns
 *   plain JS objects; bad input is **thrown** as a {@link VerdictError};
 * - the **JSON form** (`evaluateJson`, `validateJson`, `PolicyEngine#evaluateJson`) takes
 *   and returns strings, never throws, and answers exactly the bytes the `verdict` CLI
 *   prints: the verdict JSON, the validation summary, or `{"error": {...}}`.
 *
 * `JSON.stringify(evaluate(p, sql, c))` equals `evaluateJson(JSON.stringify(p), sql,
 * JSON.stringify(c))`, byte for byte, and both equal the native engine's output.
 */

// ----------------------------------------------------------------------------- inputs

/** Subjects of `applies_to` / `except`. */
export interface Subjects {
  users?: string[];
  roles?: string[];
  workspaces?: string[];
  data_sources?: string[];
  purposes?: string[];
}

/** Masks of a `column_mask` rule. */
export type Mask =
  | { kind: "null" }
  | { kind: "redact"; replacement?: string }
  | { kind: "hash" }
  | { kind: "partial"; show_first?: number; show_last?: number; pad?: string }
  | { kind: "email" }
  | { kind: "date_year" }
  | { kind: "constant"; value: unknown };

export type Operation = "select" | "insert" | "update" | "delete" | "ddl";

/** One rule of a policy. The engine validates every field; unknown shapes are reported as problems. */
export type Rule =
  | { type: "row_filter"; table: string; predicate: string }
  | { type: "column_mask"; table: string; column: string; mask: Mask }
  | { type: "deny"; table: string; columns?: string[]; operations?: Operation[] }
  | { type: string; [field: string]: unknown };

export interface Policy {
  id: string;
  name?: string;
  description?: string;
  enabled?: boolean;
  priority?: number;
  mode?: "enforce" | "monitor";
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
  type?: string;
}

export interface Catalog {
  tables: { name: string; columns: CatalogColumn[] }[];
}

/**
 * A policy set in any of the three file shapes (a set object, an array of policies, one
 * policy), or its JSON text. The package reads no YAML: YAML text is the error
 * `yaml_unsupported`.
 */
export type PolicySetInput =
  | { catalog?: Catalog; policies?: Policy[] }
  | Policy[]
  | Policy
  | string;

/** Who runs the statement. Attribute values are JSON values. */
export interface Context {
  user?: string | null;
  roles?: string[] | null;
  attributes?: Record<string, unknown> | null;
  purpose?: string | null;
  workspace?: string | null;
  data_source?: string | null;
  break_glass?: boolean | null;
}

/** A context, its JSON text, or nothing for the empty context (YAML: `yaml_unsupported`). */
export type ContextInput = Context | string | null | undefined;

/** Evaluation options. */
export interface Options {
  /** `postgres` (the default) or `postgresql`; any other dialect is `unsupported_dialect`. */
  dialect?: "postgres" | "postgresql" | string | null;
}

// ---------------------------------------------------------------------------- outputs

export type Decision = "allow" | "mask" | "row_filter" | "block";

export interface MaskedColumn {
  table: string;
  column: string;
  kind: string;
  policy: string;
  rule_index: number;
}

export interface RowFilter {
  table: string;
  predicate: string;
  policy: string;
  rule_index: number;
}

export interface MatchedPolicy {
  id: string;
  mode: "enforce" | "monitor";
}

/** The engine's answer for one SQL text (SPEC §3). Absent fields are absent, not `null`. */
export interface Verdict {
  verdict: Decision;
  /** What decided it: `row_filter`, `column_mask`, `allow`, or for blocks `deny`, `parse_error`, … */
  rule: string;
  reason: string;
  hint: string;
  masked_columns: MaskedColumn[];
  row_filters: RowFilter[];
  row_filter_predicate?: string;
  /** Present whenever `verdict` is not `block`: the SQL to run. */
  rewritten_sql?: string;
  matched_policies: MatchedPolicy[];
  notes: string[];
  blocked_by?: { policy: string; rule_index: number };
  /** What `monitor` policies would have done; absent when none would have acted. */
  monitored?: {
    policy: string;
    rule_index: number;
    would: "block" | "row_filter" | "mask";
    table?: string;
    column?: string;
    /** The block's reason, the filter's predicate, or the mask's kind. */
    detail: string;
  }[];
  explanation: string[];
  [field: string]: unknown;
}

/** One validation problem, located as precisely as the input allows. */
export interface Problem {
  policy?: string;
  policy_index?: number;
  rule_index?: number;
  /** The field as a path, such as `rules[2].mask.show_last`. */
  field: string;
  message: string;
  /** 1-based, inside the predicate (or the file, for a syntax error). */
  line?: number;
  column?: number;
}

/**
 * Error codes: `invalid_policy`, `invalid_context`, `invalid_options`,
 * `unsupported_dialect`, `invalid_arguments` (an argument of the wrong JS type),
 * `yaml_unsupported` (a policy set or context text that is not JSON: the package reads no
 * YAML).
 */
export type ErrorCode =
  | "invalid_policy"
  | "invalid_context"
  | "invalid_options"
  | "unsupported_dialect"
  | "invalid_arguments"
  | "yaml_unsupported"
  | string;

/** The fields of an error, as in the CLI's `{"error": {...}}` document. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  /** Every problem found, for `invalid_policy`. */
  problems?: Problem[];
}

/** What the object forms throw: a JS `Error` whose `name` is `"VerdictError"`. */
export interface VerdictError extends Error, ErrorInfo {
  name: "VerdictError";
  code: ErrorCode;
  message: string;
  problems?: Problem[];
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
 * Evaluates with JSON texts (YAML text is the error `yaml_unsupported`). Never throws.
 * @returns the verdict JSON, or the `{"error": {...}}` document, as the CLI prints them.
 */
export function evaluateJson(
  policySetJson: string,
  sql: string,
  contextJson?: string | null,
  optionsJson?: string | null,
): string;

/** Validates a policy set: its summary, or every problem with its position. Never throws. */
export function validate(policySet: PolicySetInput): ValidationResult;

/** Validates a policy set text. Never throws. @returns what `verdict validate` prints. */
export function validateJson(policySetJson: string): string;

/**
 * Runs a policy test suite (`{tests: [{name, context?, sql, expect}]}`, see the engine's
 * README) against a policy set. Each argument is a JSON text or an object; YAML text is the
 * error `yaml_unsupported`. Never throws.
 * @param options `{mutate: true}` adds mutation testing (each rule dropped or weakened).
 * @returns the report JSON (`passed`, `failed`, `total`, `cases` with their `mismatches`,
 *   `coverage`, and `mutation` when asked), the bytes `verdict test --format json
 *   --coverage [--mutate]` prints; or the `{"error": {...}}` document (`invalid_policy`,
 *   `invalid_tests`, `invalid_options`).
 */
export function runTests(
  policySet: PolicySetInput,
  tests: string | object,
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

/** One top-level `AND` conjunct of a row filter, evaluated over the row. */
export interface ExplainedConjunct {
  written: string;
  /** With the context substituted; absent when the context lacks a value it needs. */
  sql?: string;
  value: "true" | "false" | "null" | "unknown";
  /** It hides the row (false or null). */
  blamed: boolean;
  context: { reference: string; value?: unknown }[];
  missing_columns?: string[];
  /** Its column in `diagnostic_sql` (`c1`, …). */
  diagnostic_column?: string;
}

/** One applicable row filter on the table. */
export interface ExplainedFilter {
  policy: string;
  rule_index: number;
  type: "row_filter" | "data_retention";
  predicate?: string;
  value: "true" | "false" | "null" | "unknown";
  conjuncts: ExplainedConjunct[];
  missing_context?: string[];
}

/** What `explainRow` answers. */
export interface RowExplanation {
  table: string;
  outcome: "visible" | "hidden" | "undecided";
  visible: boolean;
  filters: ExplainedFilter[];
  denied?: { policy: string; rule_index: number };
  default_denied: boolean;
  denied_columns: { column: string; policy: string; rule_index: number }[];
  masked_columns: { column: string; kind: string; policy: string; rule_index: number }[];
  monitored?: ExplainedFilter[];
  bypassed?: string[];
  /** The smallest context change found that admits the row. */
  admit_with?: { reference: string; from?: unknown; to: unknown }[];
  /** `SELECT (<conjunct>) AS c1, … FROM <table> WHERE <key> = <value>`. */
  diagnostic_sql?: string;
  explanation: string[];
}

/**
 * Why a row is visible or hidden: each applicable row filter's conjuncts evaluated over the
 * row with SQL's three-valued logic, the context values they use, the smallest admitting
 * context change and a diagnostic query. Each argument is a JSON text or an object. Never
 * throws.
 * @returns the {@link RowExplanation} JSON (what `verdict explain-row` prints), or the
 *   `{"error": {...}}` document (`invalid_policy`, `invalid_request`, `invalid_row`,
 *   `invalid_context`, `invalid_table`, `unknown_relation`).
 */
export function explainRow(policySet: PolicySetInput, request: string | ExplainRowRequest): string;

/** A principal of `whoSees`: a context, or a named context with exceptions. */
export type WhoSeesPrincipal =
  | Context
  | {
      name?: string;
      context: ContextInput;
      /** Exceptions held: each lifts rules of a policy (default: its row filters and masks). */
      exceptions?: { policy: string; rules?: number[] }[];
    };

/** One principal's access to the column (`SELECT <column> FROM <table>` judged for them). */
export interface ColumnAccess {
  principal?: string;
  access: "raw" | "masked" | "filtered" | "masked_filtered" | "denied";
  raw: boolean;
  masked?: { kind: string; policy: string; rule_index: number };
  filtered: { predicate: string; policy: string; rule_index: number }[];
  denied?: { rule: string; policy?: string; rule_index?: number; reason: string };
  break_glass: boolean;
  exceptions?: { policy: string; rules?: number[] }[];
  sql: string;
}

/**
 * How each principal sees a column. Each argument is a JSON text or an object. Never throws.
 * @returns `{table, column, access: ColumnAccess[]}` as JSON (what `verdict who-sees`
 *   prints), or the `{"error": {...}}` document.
 */
export function whoSees(
  policySet: PolicySetInput,
  request: string | { table: string; column: string; principals: WhoSeesPrincipal[] },
): string;

/** The package version. */
export function version(): string;

/**
 * A policy set validated once, for evaluating many statements. Call `free()` (or use
 * `using`) when done; otherwise the memory is reclaimed when the object is collected.
 */
export class PolicyEngine {
  /** @throws {VerdictError} listing every problem of an invalid policy set. */
  constructor(policySet: PolicySetInput, options?: Options | null);
  /** @throws {VerdictError} for an invalid context. */
  evaluate(sql: string, context?: ContextInput): Verdict;
  /** The verdict JSON or the error document; never throws. */
  evaluateJson(sql: string, contextJson?: string | null): string;
  /** What `validate` answers for this set. */
  summary(): ValidationSummary;
  /** Releases the engine's memory; the object must not be used afterwards. */
  free(): void;
  [Symbol.dispose](): void;
}
