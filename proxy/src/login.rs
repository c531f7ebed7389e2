//! Who is connecting: principals with SCRAM-SHA-256 verifiers, and signed JWTs given as
//! the password. Both end in a `verdict_engine::Context`.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value as Json};
use verdict_engine::Context;

use crate::scram::Verifier;

/// A principal: a login with a SCRAM verifier and the context its statements run with.
#[derive(Debug, Clone)]
pub struct Principal {
    pub verifier: Verifier,
    pub context: Context,
}

/// The principals of a standalone file, by user name.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    by_user: BTreeMap<String, Principal>,
}

impl Principals {
    /// Reads `{"principals": [{"user", "password", "roles", "attributes", "purpose",
    /// "workspace", "data_source"}]}` (JSON or YAML; a bare array also works), reporting
    /// every problem at once.
    pub fn parse(text: &str) -> Result<Principals, String> {
        let value: Json = if text.trim_start().starts_with(['{', '[']) {
            serde_json::from_str(text)
                .map_err(|e| format!("principals file is not valid JSON: {e}"))?
        } else {
            serde_yaml_ng::from_str(text)
                .map_err(|e| format!("principals file is not valid YAML: {e}"))?
        };
        let list = match value {
            Json::Array(list) => list,
            Json::Object(mut obj) => match obj.remove("principals") {
                Some(Json::Array(list)) => list,
                _ => return Err("principals file must hold a `principals` array".into()),
            },
            _ => return Err("principals file must hold a `principals` array".into()),
        };
        let mut by_user = BTreeMap::new();
        let mut problems = Vec::new();
        for (i, entry) in list.into_iter().enumerate() {
            let Json::Object(mut obj) = entry else {
                problems.push(format!("principals[{i}]: must be an object"));
                continue;
            };
            let password = obj.remove("password");
            let verifier = match password.as_ref().and_then(Json::as_str) {
                Some(p) => Verifier::parse(p).map_err(|e| format!("principals[{i}].password: {e}")),
                None => Err(format!("principals[{i}].password: missing")),
            };
            let user = obj.get("user").and_then(Json::as_str).map(str::to_string);
            let context = Context::from_json_value(Json::Object(obj))
                .map_err(|e| format!("principals[{i}]: {}", e.message));
            match (user, verifier, context) {
                (Some(user), Ok(verifier), Ok(context)) => {
                    if by_user
                        .insert(user.clone(), Principal { verifier, context })
                        .is_some()
                    {
                        problems.push(format!("principals[{i}].user: `{user}` appears twice"));
                    }
                }
                (user, verifier, context) => {
                    if user.is_none() {
                        problems.push(format!("principals[{i}].user: missing"));
                    }
                    problems.extend(verifier.err());
                    problems.extend(context.err());
                }
            }
        }
        if problems.is_empty() {
            Ok(Principals { by_user })
        } else {
            Err(problems.join("; "))
        }
    }

    /// Adds or replaces the principal of `user`.
    pub fn insert(&mut self, user: String, principal: Principal) {
        self.by_user.insert(user, principal);
    }

    pub fn get(&self, user: &str) -> Option<&Principal> {
        self.by_user.get(user)
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }
}

/// How JWT passwords are checked.
#[derive(Clone)]
pub struct JwtConfig {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtConfig {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Result<JwtConfig, String> {
        if secret.len() < 32 {
            return Err("the JWT secret must be at least 32 bytes".into());
        }
        let key = DecodingKey::from_secret(secret)
            .map_err(|e| format!("the JWT secret cannot be used: {e}"))?;
        Ok(Self::with(key, Algorithm::HS256))
    }

    /// RS256 with a PEM public key.
    pub fn rs256(pem: &[u8]) -> Result<JwtConfig, String> {
        let key = DecodingKey::from_rsa_pem(pem)
            .map_err(|e| format!("the JWT public key is not an RSA public key in PEM: {e}"))?;
        Ok(Self::with(key, Algorithm::RS256))
    }

    fn with(key: DecodingKey, alg: Algorithm) -> JwtConfig {
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        JwtConfig { key, validation }
    }

    /// Requires the `aud` claim to hold `audience`.
    pub fn with_audience(mut self, audience: &str) -> JwtConfig {
        self.validation.set_audience(&[audience]);
        self.validation.validate_aud = true;
        self
    }

    /// Checks the token (signature, algorithm, expiry) and maps its claims to a context:
    /// `user` (or `sub`), `roles` (or a `role` string), `attributes`, `purpose`,
    /// `workspace`, `data_source`, `break_glass`, `dataset`, `query_id`. Other claims are
    /// ignored.
    pub fn context(&self, token: &str) -> Result<Context, String> {
        let data =
            jsonwebtoken::decode::<Map<String, Json>>(token.trim(), &self.key, &self.validation)
                .map_err(|e| e.to_string())?;
        claims_context(data.claims)
    }
}

fn claims_context(mut claims: Map<String, Json>) -> Result<Context, String> {
    let mut ctx = Map::new();
    let user = claims.remove("user").or_else(|| claims.remove("sub"));
    if let Some(user) = user {
        ctx.insert("user".into(), user);
    }
    match (claims.remove("roles"), claims.remove("role")) {
        (Some(roles), _) => {
            ctx.insert("roles".into(), roles);
        }
        (None, Some(Json::String(role))) => {
            ctx.insert("roles".into(), Json::Array(vec![Json::String(role)]));
        }
        _ => {}
    }
    for key in [
        "attributes",
        "purpose",
        "workspace",
        "data_source",
        "break_glass",
        "dataset",
        "query_id",
    ] {
        if let Some(v) = claims.remove(key) {
            ctx.insert(key.into(), v);
        }
    }
    Context::from_json_value(Json::Object(ctx)).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token(claims: Json) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn claims_become_the_context() {
        let jwt = JwtConfig::hs256(SECRET).unwrap();
        let ctx = jwt
            .context(&token(json!({
                "sub": "alice", "role": "analyst", "attributes": {"tenant_id": 1},
                "exp": now() + 60, "iss": "x"
            })))
            .unwrap();
        assert_eq!(ctx.user.as_deref(), Some("alice"));
        assert_eq!(ctx.roles, vec!["analyst".to_string()]);
        assert_eq!(ctx.attributes.get("tenant_id"), Some(&json!(1)));
    }

    #[test]
    fn bad_tokens_fail() {
        let jwt = JwtConfig::hs256(SECRET).unwrap();
        assert!(jwt
            .context(&token(json!({"sub": "a", "exp": now() - 5})))
            .is_err());
        assert!(jwt.context(&token(json!({"sub": "a"}))).is_err());
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "a", "exp": now() + 60}),
            &EncodingKey::from_secret(b"another secret of at least 32 bytes!").unwrap(),
        )
        .unwrap();
        assert!(jwt.context(&other).is_err());
        assert!(jwt.context("not a token").is_err());
        // Not valid yet.
        assert!(jwt
            .context(&token(
                json!({"sub": "a", "nbf": now() + 600, "exp": now() + 900})
            ))
            .is_err());
        // `alg: none` and a different algorithm are refused.
        let hs384 = encode(
            &Header::new(Algorithm::HS384),
            &json!({"sub": "a", "exp": now() + 60}),
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert!(jwt.context(&hs384).is_err());
        assert!(JwtConfig::hs256(b"short").is_err());
    }

    #[test]
    fn principals_file_reports_every_problem() {
        let v = postgres_protocol::password::scram_sha_256(b"pw");
        let ok = Principals::parse(&format!(
            r#"{{"principals": [{{"user": "alice", "password": "{v}", "roles": ["analyst"], "attributes": {{"tenant_id": 1}}}}]}}"#
        ))
        .unwrap();
        assert_eq!(
            ok.get("alice").map(|p| p.context.roles.clone()),
            Some(vec!["analyst".into()])
        );
        let err = Principals::parse(
            r#"[{"password": "plain"}, {"user": "b", "password": "x", "roles": 3}]"#,
        )
        .unwrap_err();
        assert!(err.contains("principals[0].user: missing"), "{err}");
        assert!(err.contains("principals[0].password"), "{err}");
        assert!(err.contains("principals[1].password"), "{err}");
        assert!(err.contains("principals[1]: "), "{err}");
    }
}
