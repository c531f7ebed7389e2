//! Judging what a statement calls: the deny lists (query restrictions and the engine's
//! own), the special forms of SQL's grammar, and under a strict catalog the built-ins
//! and the functions the catalog lists.

use crate::catalog::TableName;
use crate::functions;
use crate::ident;
use crate::verdict::VerdictRule;
use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, Value};

use super::{Block, Flow, Rewriter};

impl Rewriter<'_> {
    /// Blocks a function a query restriction denies.
    pub(super) fn check_function(&self, name: &ObjectName) -> Flow {
        match functions::judged_name(name) {
            Some(name) => self.check_function_name(&name, None),
            // A name the engine cannot read: the engine's own list blocks it.
            None => Ok(()),
        }
    }

    /// The deny lists' judgement of a call by name: a query restriction's, then the
    /// engine's own.
    pub(super) fn check_denied_call(&self, name: &ObjectName) -> Flow {
        self.check_function(name)?;
        match functions::denied_reason(name) {
            Some(why) => Err(denied_function(name, why)),
            None => Ok(()),
        }
    }

    /// Blocks a function name a query restriction denies; `form` is the special form of
    /// SQL's grammar that calls it, if any.
    pub(super) fn check_function_name(&self, name: &str, form: Option<&str>) -> Flow {
        let hit = self
            .denied_functions
            .iter()
            .find(|(p, _, _)| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *p,
            });
        match (hit, form) {
            (Some((pattern, policy, rule)), None) => Err(Block::new(
                VerdictRule::DeniedFunction,
                format!("function `{name}` is denied by a query restriction of policy `{policy}` (`{pattern}`)"),
                "remove the call",
            )
            .with_policy(policy, *rule)),
            (Some((pattern, policy, rule)), Some(form)) => Err(Block::new(
                VerdictRule::DeniedFunction,
                format!("`{form}` calls `{name}`, which is denied by a query restriction of policy `{policy}` (`{pattern}`)"),
                "remove the expression; its special syntax calls the denied function",
            )
            .with_policy(policy, *rule)),
            (None, _) => Ok(()),
        }
    }

    /// `col(t)`: PostgreSQL reads a one-argument call on a relation's whole row, named
    /// after one of its columns, as that column (`t.col`).
    pub(super) fn is_attribute_notation(&self, f: &sqlparser::ast::Function) -> bool {
        let FunctionArguments::List(list) = &f.args else {
            return false;
        };
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(q)))] =
            list.args.as_slice()
        else {
            return false;
        };
        let Some(parts) = ident::object_parts(&f.name) else {
            return false;
        };
        let [col] = parts.as_slice() else {
            return false;
        };
        self.scopes
            .find_relation(&ident::normalize(q))
            .and_then(|r| r.columns.as_ref())
            .is_some_and(|c| c.contains(self.catalog, &ident::normalize(col)))
    }

    /// Under a strict catalog a function must be a safe PostgreSQL built-in
    /// ([`functions::is_safe_builtin`]) or listed in `catalog.functions` as reading no
    /// governed table; without a catalog the deny lists are the floor.
    pub(super) fn check_known_function(&self, name: &ObjectName) -> Flow {
        let Some(catalog) = self.catalog else {
            return Ok(());
        };
        match functions::normalized_name(name) {
            Some(f) if functions::reads_session_state(&f) => return Err(session_state(&f)),
            Some(f) if functions::is_safe_builtin(&f) => return Ok(()),
            _ => {}
        }
        // A function of the catalog: `f` (in `public`) or `schema.f`, named as a table is.
        let qualified = ident::object_parts(name)
            .and_then(|parts| TableName::from_idents(&parts))
            .ok_or_else(|| unknown_function(&name.to_string()))?;
        match catalog.functions.get(&qualified) {
            Some(listed) if !listed.reads_governed_tables => Ok(()),
            Some(_) => Err(Block::new(
                VerdictRule::UnknownFunction,
                format!("function `{qualified}` reads governed tables (catalog.functions), around the policies"),
                "read the tables in the statement itself, where the policies apply; a function that reads no governed table is listed with `reads_governed_tables: false`",
            )),
            None => Err(unknown_function(&qualified.to_string())),
        }
    }

    /// Blocks what an expression calls (a function by name, or the functions a special
    /// form of the grammar calls) when a query restriction or the engine's list denies it.
    pub(super) fn check_calls(&self, expr: &Expr) -> Flow {
        match functions::calls(expr) {
            None => Ok(()),
            Some(functions::Calls::Named(name)) => {
                // `current_setting('verdict.…')`: the engine's own settings.
                let own_setting = functions::judged_name(name).as_deref()
                    == Some("current_setting")
                    && matches!(expr, Expr::Function(f)
                        if first_string_arg(&f.args).is_some_and(|s| s.starts_with("verdict.")));
                if own_setting {
                    return self.check_function(name);
                }
                self.check_denied_call(name)?;
                if matches!(expr, Expr::Function(f) if self.is_attribute_notation(f)) {
                    return Ok(());
                }
                self.check_known_function(name)
            }
            Some(functions::Calls::Special { form, names }) => {
                for name in names {
                    self.check_function_name(name, Some(form))?;
                    if let Some(why) = functions::denied_reason_for(name) {
                        return Err(Block::new(
                            VerdictRule::DeniedFunction,
                            format!("`{form}` calls `{name}`, which is not allowed: {why}"),
                            "remove the expression; it cannot be proven to respect the policies",
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Adds function-name patterns denied by a restriction of `policy`.
    pub fn deny_functions(&mut self, policy: &str, rule_index: usize, patterns: &[String]) {
        for p in patterns {
            self.denied_functions
                .push((p.clone(), policy.to_string(), rule_index));
        }
    }

    /// Records a policy that changed the statement without a filter or mask (a query
    /// limit's LIMIT), so that it is among the verdict's matched policies.
    pub fn record_policy(&mut self, policy: &str) {
        self.applied.policies.insert(policy.to_string());
    }

    /// Enforces the policies on a procedure call (`CALL`), in place: its name is judged
    /// like a function's, its arguments like any expression.
    pub fn call(&mut self, f: &mut sqlparser::ast::Function) -> Flow {
        // The procedure itself: a policy allowed `call` statements, and the deny lists still
        // judge its name; its arguments are expressions like any other.
        self.check_denied_call(&f.name)?;
        self.walk(&mut f.args)
    }
}

pub(super) fn first_string_arg(args: &FunctionArguments) -> Option<&str> {
    let FunctionArguments::List(list) = args else {
        return None;
    };
    match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn unknown_function(name: &str) -> Block {
    Block::new(
        VerdictRule::UnknownFunction,
        format!("function `{name}` is neither a PostgreSQL built-in known to read nothing but its arguments nor listed in the catalog"),
        "use a built-in, or list the function in `catalog.functions` (`{\"name\": \"schema.f\", \"reads_governed_tables\": false}`) when it reads no governed table",
    )
}

pub(super) fn session_state(name: &str) -> Block {
    Block::new(
        VerdictRule::UnknownFunction,
        format!("`{name}` reads session state (the database role, database or schema running the statement), which a strict catalog does not allow"),
        "pass what you need in the context (e.g. `ctx.user`) instead of reading it from the session",
    )
}

pub(super) fn denied_function(name: &ObjectName, why: &str) -> Block {
    Block::new(
        VerdictRule::DeniedFunction,
        format!("function `{name}` is not allowed: {why}"),
        "remove the call; it cannot be proven to respect the policies",
    )
}
