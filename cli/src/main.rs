//! `verdict`: the command-line shell around `verdict_engine`.
//!
//! It reads files, calls the engine and prints JSON. Exit codes: 0 for any verdict
//! (including `block`) and for a valid policy set, 2 for input that cannot be judged,
//! which is always reported as `{"error": {"code": …, "message": …}}` on stdout.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use verdict_engine::{evaluate, Context, InputError, PolicySet};

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
struct ValidateArgs {
    /// Policy set file (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    policies: PathBuf,
    /// Indent the JSON output
    #[arg(long)]
    pretty: bool,
}

/// Dialect names `--dialect` accepts; the engine speaks PostgreSQL only.
const DIALECTS: &[&str] = &["postgres", "postgresql"];

/// The exit code for input that cannot be judged.
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_error(&err),
    };
    let (result, pretty) = match &cli.command {
        Command::Eval(args) => (run_eval(args), args.pretty),
        Command::Validate(args) => (run_validate(args), args.pretty),
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

fn run_eval(args: &EvalArgs) -> Result<String, InputError> {
    if !DIALECTS.contains(&args.dialect.to_lowercase().as_str()) {
        return Err(InputError::new(
            "unsupported_dialect",
            format!(
                "dialect `{}` is not supported; use {}",
                args.dialect,
                DIALECTS.join(" or ")
            ),
        ));
    }
    let stdin_users = [
        Some(&args.policies),
        args.sql_file.as_ref(),
        args.context.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter(|p| is_stdin(p))
    .count();
    if stdin_users > 1 {
        return Err(InputError::new(
            "invalid_arguments",
            "only one of the input files can be `-` (stdin)",
        ));
    }
    let set = PolicySet::parse(&read_input(&args.policies)?)?;
    let ctx = match &args.context {
        Some(path) => Context::from_str_any(&read_input(path)?)?,
        None => Context::default(),
    };
    let sql = match (&args.sql, &args.sql_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => read_input(path)?,
        // INVARIANT: the `sql_input` argument group requires one of the two.
        (None, None) => {
            return Err(InputError::new(
                "invalid_arguments",
                "give the SQL with `--sql TEXT` or `--sql-file FILE`",
            ))
        }
    };
    Ok(evaluate(&set, &sql, &ctx).to_json())
}

fn run_validate(args: &ValidateArgs) -> Result<String, InputError> {
    let set = PolicySet::parse(&read_input(&args.policies)?)?;
    let rules = set.policies.iter().map(|p| p.rules.len()).sum::<usize>();
    let governed: BTreeSet<String> = set
        .policies
        .iter()
        .flat_map(|p| {
            p.rules
                .iter()
                .filter_map(|r| r.table().map(|t| t.to_string()))
        })
        .collect();
    let summary = serde_json::json!({
        "valid": true,
        "policies": set.policies.len(),
        "rules": rules,
        "tables": set.catalog.as_ref().map_or(0, |c| c.tables().len()),
        "governed_tables": governed.len(),
    });
    Ok(summary.to_string())
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
                "io_error",
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
                "invalid_arguments",
                "a subcommand is required: `eval` or `validate`",
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
            let error = InputError::new("invalid_arguments", message.to_string());
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
