//! `verdict`: the command-line shell around `verdict_engine`.
//!
//! It reads files, calls the engine and prints JSON. Exit codes: 0 for any verdict
//! (including `block`) and for a valid policy set, 2 for input that cannot be judged,
//! which is always reported as `{"error": {"code": …, "message": …}}` on stdout.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use verdict_engine::{
    evaluate, run_suite, run_suite_with_mutation, Context, ErrorCode, InputError, PolicySet, Suite,
};

/// Evaluate SQL against a Verdict policy set.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge one SQL text for one context and print the verdict JSON (exit 0 for any verdict)
    Eval(EvalArgs),
    /// Load and validate a policy set; print a summary, or every problem found (exit 2)
    Validate(ValidateArgs),
    /// Run a policy test suite against a policy set (exit 0 all pass, 1 some fail, 2 bad input)
    Test(TestArgs),
    /// Explain why a row (column values) is visible or hidden for a context: each row
    /// filter's conjuncts over the row, the admitting context change, a diagnostic query
    ExplainRow(ExplainRowArgs),
    /// List how each principal sees a column: raw, masked, filtered or denied
    WhoSees(WhoSeesArgs),
    /// Print the SQL that makes PostgreSQL leave row values out of constraint errors on the
    /// governed tables, for the role that runs rewritten SQL (run it as the tables' owner)
    DbSetup(DbSetupArgs),
    /// Run the Policies API server (SQLite in the data directory by default)
    Serve(ServeArgs),
    /// Create or revoke API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the PostgreSQL wire-protocol proxy that enforces the policies on every statement
    Proxy(Box<ProxyArgs>),
}

#[derive(Debug, Args)]
struct ProxyArgs {
    /// Print a SCRAM-SHA-256 verifier for the password read from stdin (for the principals
    /// file) and exit
    #[arg(long, exclusive = true)]
    hash_password: bool,
    /// Address to listen on
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6432")]
    listen: String,
    /// The database the proxy protects: `postgres://USER[:PASSWORD]@HOST:PORT/DB`
    /// (or PGPASSWORD for the password)
    #[arg(
        long,
        value_name = "URL",
        env = "VERDICT_UPSTREAM_URL",
        required_unless_present = "hash_password"
    )]
    upstream: Option<String>,
    /// Policy set file (JSON or YAML): a standalone set
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["hash_password", "database", "data_dir"],
        conflicts_with_all = ["database", "data_dir", "org"]
    )]
    policies: Option<PathBuf>,
    /// Principals file (JSON or YAML): users with SCRAM-SHA-256 verifiers and their context
    #[arg(long, value_name = "FILE", conflicts_with_all = ["database", "data_dir"])]
    principals: Option<PathBuf>,
    /// The server's store instead of files: its database URL (`sqlite://PATH` or
    /// `postgres://…`); the organization's active policy set and principals apply, and
    /// their changes are seen within a second
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    database: Option<String>,
    /// The server's store instead of files: its data directory (`verdict.db` inside)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The store's organization (default: `default`, the server's first)
    #[arg(long, value_name = "NAME")]
    org: Option<String>,
    /// HS256 secret for JWT passwords (at least 32 bytes)
    #[arg(
        long,
        value_name = "SECRET",
        env = "VERDICT_PROXY_JWT_SECRET",
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// File holding the HS256 secret for JWT passwords
    #[arg(long, value_name = "FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// RS256 public key (PEM) for JWT passwords
    #[arg(long, value_name = "FILE")]
    jwt_public_key: Option<PathBuf>,
    /// Required `aud` claim of JWT passwords
    #[arg(long, value_name = "AUD")]
    jwt_audience: Option<String>,
    /// TLS towards clients: certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS towards clients: private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Append one JSON line per judged SQL text (principal, client, application_name, SQL,
    /// what ran, verdict, rule, policies)
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Client connections served at once
    #[arg(long, value_name = "N", default_value_t = verdict_proxy::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest message a client may send, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = verdict_proxy::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Seconds a client has to log in
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    startup_timeout: u64,
    /// Seconds a client may stay silent with nothing running (0: no limit)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    idle_timeout: u64,
}

/// Where the server's data lives (shared by `serve` and `token`).
#[derive(Debug, Args)]
struct StoreArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`;
    /// default: `verdict.db` in the data directory
    #[arg(long, value_name = "URL", env = "VERDICT_DATABASE_URL")]
    database: Option<String>,
    /// Data directory: the SQLite file and the first admin token
    #[arg(
        long,
        value_name = "DIR",
        default_value = "verdict-data",
        env = "VERDICT_DATA_DIR"
    )]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8080",
        env = "VERDICT_ADDR"
    )]
    addr: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Largest request body accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = verdict_server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// A built single-page app (the policy editor) to serve at `/`
    #[arg(long, value_name = "DIR", env = "VERDICT_WEB_DIR")]
    web_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for a user of an organization (created when missing); prints it once
    Create(TokenCreateArgs),
    /// Revoke a token, given its id (`tok_…`) or the token itself
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
struct TokenCreateArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Organization name
    #[arg(long, value_name = "NAME", default_value = "default")]
    org: String,
    /// The user the token acts as (recorded as the author of every change)
    #[arg(long, value_name = "NAME")]
    user: String,
    /// `admin`, `editor` or `viewer`
    #[arg(long, value_name = "ROLE", default_value = "viewer")]
    role: String,
    /// A note about the token
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

#[derive(Debug, Args)]
struct TokenRevokeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The token's id or the token itself
    token: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("sql_input").required(true).args(["sql", "sql_file"])))]
struct EvalArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// The SQL text to judge
    #[arg(long, value_name = "TEXT")]
    sql: Option<String>,
    /// File holding the SQL text to judge; `-` reads stdin
    #[arg(long, value_name = "FILE")]
    sql_file: Option<PathBuf>,
    /// Context file (JSON or YAML); without it the context is empty (`{}`)
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// SQL dialect
    #[arg(long, value_name = "DIALECT", default_value = "postgres")]
    dialect: String,
    /// Indent the JSON output
    #[arg(long)]
    pretty: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("row_input").required(true).args(["row", "row_file"])))]
struct ExplainRowArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// The table (`orders` or `schema.orders`)
    #[arg(long, value_name = "NAME")]
    table: String,
    /// The row as a JSON object of column values
    #[arg(long, value_name = "JSON")]
    row: Option<String>,
    /// File holding the row's JSON object; `-` reads stdin
    #[arg(long, value_name = "FILE")]
    row_file: Option<PathBuf>,
    /// Context file (JSON or YAML); without it the context is empty (`{}`)
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// A column that picks the row in the diagnostic query (repeatable; default: `id`,
    /// else every column of the row)
    #[arg(long, value_name = "COLUMN")]
    key: Vec<String>,
    /// Indent the JSON output
    #[arg(long)]
    pretty: bool,
}

#[derive(Debug, Args)]
struct WhoSeesArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// The table (`orders` or `schema.orders`)
    #[arg(long, value_name = "NAME")]
    table: String,
    /// The column
    #[arg(long, value_name = "NAME")]
    column: String,
    /// JSON file: an array of principals, each a context or `{name?, context,
    /// exceptions?: [{policy, rules?}]}`; `-` reads stdin
    #[arg(long, value_name = "FILE")]
    principals: PathBuf,
    /// Indent the JSON output
    #[arg(long)]
    pretty: bool,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// Indent the JSON output
    #[arg(long)]
    pretty: bool,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// Test suite file (JSON or YAML): `{tests: [{name, context, sql, expect}]}`
    #[arg(long, value_name = "FILE")]
    tests: PathBuf,
    /// Output: `text` for people, `json` (the report), `junit` (JUnit XML for CI)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// List every rule no case exercised
    #[arg(long)]
    coverage: bool,
    /// Drop or weaken each rule in turn and report the mutants no case catches, with the
    /// mutation score (killed / total)
    #[arg(long)]
    mutate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Args)]
struct DbSetupArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// The role that runs rewritten SQL; without it the policies are for PUBLIC
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
}

/// The exit code for input that cannot be judged.
const EXIT_INVALID: u8 = 2;

/// The server allocates and frees many small objects per request (syntax trees, JSON
/// values, strings); mimalloc does that in fewer instructions than the system allocator
/// (scripts/load.sh measures it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_error(&err),
    };
    let (result, pretty) = match &cli.command {
        Command::Eval(args) => (run_eval(args), args.pretty),
        Command::Validate(args) => (run_validate(args), args.pretty),
        Command::ExplainRow(args) => (run_explain_row(args), args.pretty),
        Command::WhoSees(args) => (run_who_sees(args), args.pretty),
        Command::Test(args) => return run_test(args),
        Command::DbSetup(args) => return run_db_setup(args),
        Command::Serve(args) => return run_serve(args),
        Command::Proxy(args) => return run_proxy(args),
        Command::Token(command) => (run_token(command), false),
    };
    match result {
        Ok(json) => {
            print_json(&json, pretty);
            ExitCode::SUCCESS
        }
        Err(err) => {
            print_json(&err.to_json(), pretty);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The policy set and the context (default: empty) a subcommand reads, with at most one
/// of them and `other` (a further input file) read from stdin (`-`).
fn set_and_context(
    policies: &PathBuf,
    context: Option<&PathBuf>,
    other: Option<&PathBuf>,
) -> Result<(PolicySet, Context), InputError> {
    let stdin_users = [Some(policies), other, context]
        .into_iter()
        .flatten()
        .filter(|p| is_stdin(p))
        .count();
    if stdin_users > 1 {
        return Err(InputError::new(
            ErrorCode::InvalidArguments,
            "only one of the input files can be `-` (stdin)",
        ));
    }
    let set = PolicySet::parse(&read_input(policies)?)?;
    let ctx = match context {
        Some(path) => Context::from_str_any(&read_input(path)?)?,
        None => Context::default(),
    };
    Ok((set, ctx))
}

fn run_eval(args: &EvalArgs) -> Result<String, InputError> {
    let dialect = verdict_engine::Dialect::from_name(&args.dialect)?;
    let (mut set, ctx) = set_and_context(
        &args.policies,
        args.context.as_ref(),
        args.sql_file.as_ref(),
    )?;
    let sql = match (&args.sql, &args.sql_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => read_input(path)?,
        // INVARIANT: the `sql_input` argument group requires one of the two.
        (None, None) => {
            return Err(InputError::new(
                ErrorCode::InvalidArguments,
                "give the SQL with `--sql TEXT` or `--sql-file FILE`",
            ))
        }
    };
    set.dialect = dialect;
    Ok(evaluate(&set, &sql, &ctx).to_json())
}

/// Reads a JSON document from a file (or stdin), as the error `code` when it is not JSON.
fn read_json(path: &Path, code: ErrorCode, what: &str) -> Result<serde_json::Value, InputError> {
    serde_json::from_str(&read_input(path)?)
        .map_err(|e| InputError::new(code, format!("{what} is not valid JSON: {e}")))
}

fn run_explain_row(args: &ExplainRowArgs) -> Result<String, InputError> {
    let (set, ctx) = set_and_context(
        &args.policies,
        args.context.as_ref(),
        args.row_file.as_ref(),
    )?;
    let row: serde_json::Value = match (&args.row, &args.row_file) {
        (Some(text), _) => serde_json::from_str(text).map_err(|e| {
            InputError::new(
                ErrorCode::InvalidRow,
                format!("the row is not valid JSON: {e}"),
            )
        })?,
        (None, Some(path)) => read_json(path, ErrorCode::InvalidRow, "the row")?,
        // INVARIANT: the `row_input` argument group requires one of the two.
        (None, None) => {
            return Err(InputError::new(
                ErrorCode::InvalidArguments,
                "give the row with `--row JSON` or `--row-file FILE`",
            ))
        }
    };
    let key = (!args.key.is_empty()).then_some(args.key.as_slice());
    Ok(verdict_engine::explain_row_keyed(&set, &args.table, &row, &ctx, key)?.to_json())
}

fn run_who_sees(args: &WhoSeesArgs) -> Result<String, InputError> {
    if is_stdin(&args.policies) && is_stdin(&args.principals) {
        return Err(InputError::new(
            ErrorCode::InvalidArguments,
            "only one of the input files can be `-` (stdin)",
        ));
    }
    let set = PolicySet::parse(&read_input(&args.policies)?)?;
    let principals = read_json(
        &args.principals,
        ErrorCode::InvalidRequest,
        "the principals file",
    )?;
    let request = serde_json::json!({
        "table": args.table,
        "column": args.column,
        "principals": principals,
    });
    Ok(verdict_engine::who_sees_json(&set, &request)?.to_json())
}

/// Runs a test suite; prints the report in the chosen format, or the error JSON (exit 2).
fn run_test(args: &TestArgs) -> ExitCode {
    if is_stdin(&args.policies) && is_stdin(&args.tests) {
        let err = InputError::new(
            ErrorCode::InvalidArguments,
            "only one of the input files can be `-` (stdin)",
        );
        print_json(&err.to_json(), false);
        return ExitCode::from(EXIT_INVALID);
    }
    let inputs = read_input(&args.policies)
        .and_then(|text| PolicySet::parse(&text))
        .and_then(|set| Ok((set, Suite::parse(&read_input(&args.tests)?)?)));
    let (set, suite) = match inputs {
        Ok(inputs) => inputs,
        Err(err) => {
            print_json(&err.to_json(), false);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let started = std::time::Instant::now();
    let mut report = if args.mutate {
        run_suite_with_mutation(&set, &suite)
    } else {
        run_suite(&set, &suite)
    };
    if !args.coverage {
        report.coverage = None;
    }
    let text = match args.format {
        Format::Text => report.to_text(),
        Format::Json => format!("{}\n", report.to_json()),
        Format::Junit => report.to_junit(
            &format!("verdict test {}", args.tests.display()),
            &utc_timestamp(std::time::SystemTime::now()),
            started.elapsed().as_secs_f64(),
        ),
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as JUnit's `timestamp` wants it.
fn utc_timestamp(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date (eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// Prints the setup SQL (not JSON: it is meant for psql), or the error JSON.
fn run_db_setup(args: &DbSetupArgs) -> ExitCode {
    let sql = read_input(&args.policies)
        .and_then(|text| PolicySet::parse(&text))
        .and_then(|set| verdict_engine::db_setup_sql(&set, args.role.as_deref()));
    match sql {
        Ok(sql) => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(sql.as_bytes());
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(err) => {
            print_json(&err.to_json(), false);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn run_serve(args: &ServeArgs) -> ExitCode {
    let config = verdict_server::ServeConfig {
        addr: args.addr.clone(),
        database_url: args.store.database.clone(),
        data_dir: args.store.data_dir.clone(),
        max_body_bytes: args.max_body_bytes,
        web_dir: args.web_dir.clone(),
    };
    match verdict_server::serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let error = InputError::new(ErrorCode::ServerError, lowercase_first(&err.to_string()));
            print_json(&error.to_json(), false);
            ExitCode::from(1)
        }
    }
}

fn run_proxy(args: &ProxyArgs) -> ExitCode {
    if args.hash_password {
        let mut password = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut password) {
            let error = InputError::new(ErrorCode::InvalidInput, format!("cannot read stdin: {e}"));
            print_json(&error.to_json(), false);
            return ExitCode::from(EXIT_INVALID);
        }
        let password = password.strip_suffix('\n').unwrap_or(&password);
        println!("{}", verdict_proxy::hash_password(password));
        return ExitCode::SUCCESS;
    }
    let options = verdict_proxy::Options {
        listen: args.listen.clone(),
        upstream: args.upstream.clone().unwrap_or_default(),
        policies: args.policies.clone(),
        principals: args.principals.clone(),
        database: args.database.clone(),
        data_dir: args.data_dir.clone(),
        org: args.org.clone(),
        jwt_secret: args.jwt_secret.clone(),
        jwt_secret_file: args.jwt_secret_file.clone(),
        jwt_public_key: args.jwt_public_key.clone(),
        jwt_audience: args.jwt_audience.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        audit_log: args.audit_log.clone(),
        limits: verdict_proxy::Limits {
            max_message_bytes: args.max_message_bytes,
            max_connections: args.max_connections,
            startup_timeout: std::time::Duration::from_secs(args.startup_timeout),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        },
    };
    match verdict_proxy::run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let error = InputError::new(ErrorCode::ProxyError, lowercase_first(&err.to_string()));
            print_json(&error.to_json(), false);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn run_token(command: &TokenCommand) -> Result<String, InputError> {
    let server_error = |err: verdict_server::ServeError| {
        let code = match &err {
            verdict_server::ServeError::Token(
                verdict_server::TokenError::Role(_)
                | verdict_server::TokenError::Empty(_)
                | verdict_server::TokenError::NotFound(_),
            ) => ErrorCode::InvalidArguments,
            _ => ErrorCode::ServerError,
        };
        InputError::new(code, lowercase_first(&err.to_string()))
    };
    match command {
        TokenCommand::Create(args) => {
            let token = verdict_server::token_create(
                args.store.database.as_deref(),
                &args.store.data_dir,
                &args.org,
                &args.user,
                &args.role,
                args.description.as_deref(),
            )
            .map_err(server_error)?;
            Ok(serde_json::json!(token).to_string())
        }
        TokenCommand::Revoke(args) => {
            let id = verdict_server::token_revoke(
                args.store.database.as_deref(),
                &args.store.data_dir,
                &args.token,
            )
            .map_err(server_error)?;
            Ok(serde_json::json!({ "revoked": id }).to_string())
        }
    }
}

fn run_validate(args: &ValidateArgs) -> Result<String, InputError> {
    let set = PolicySet::parse(&read_input(&args.policies)?)?;
    Ok(serde_json::to_string(&set.summary()).unwrap_or_default())
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads a whole input file as UTF-8; `-` reads stdin.
fn read_input(path: &Path) -> Result<String, InputError> {
    let mut text = String::new();
    let result = if is_stdin(path) {
        io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    match result {
        Ok(()) => Ok(text),
        Err(e) => {
            let name = if is_stdin(path) {
                "stdin".to_string()
            } else {
                format!("`{}`", path.display())
            };
            Err(InputError::new(
                ErrorCode::IoError,
                format!("cannot read {name}: {}", lowercase_first(&e.to_string())),
            ))
        }
    }
}

/// Turns clap's own errors into the error JSON; help and version print as usual.
fn clap_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Help is what the user asked for: print it the way clap does.
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // A bare `verdict`: help for the person on stderr, the error JSON for programs.
            let _ = writeln!(io::stderr().lock(), "{}", err.render());
            let error = InputError::new(
                ErrorCode::InvalidArguments,
                "a subcommand is required: `eval`, `validate`, `test`, `serve` or `token`",
            );
            print_json(&error.to_json(), false);
            ExitCode::from(EXIT_INVALID)
        }
        _ => {
            // clap's first paragraph is the message; the usage and tips follow a blank line.
            let rendered = err.render().to_string();
            let message = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let error = InputError::new(ErrorCode::InvalidArguments, message.to_string());
            print_json(&error.to_json(), false);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Prints one JSON document and a newline; a closed stdout is not worth a panic.
fn print_json(json: &str, pretty: bool) {
    let text = if pretty {
        serde_json::from_str::<serde_json::Value>(json)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| json.to_string())
    } else {
        json.to_string()
    };
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
