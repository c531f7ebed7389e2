//! The server side of SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL speaks it, checked
//! against a stored verifier `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (what `postgres_protocol::password::scram_sha_256` and PostgreSQL write).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A parsed verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl Verifier {
    /// Reads `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let bad = || {
            "a password must be a SCRAM-SHA-256 verifier `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (see `verdict proxy --hash-password`)".to_string()
        };
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let iterations: u32 = iterations.parse().map_err(|_| bad())?;
        if iterations == 0 {
            return Err(bad());
        }
        let salt = B64.decode(salt).map_err(|_| bad())?;
        let key = |s: &str| -> Result<[u8; 32], String> {
            B64.decode(s)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(bad)
        };
        Ok(Verifier {
            iterations,
            salt,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// A verifier no password matches, for a user that does not exist: the exchange looks
    /// the same as for a wrong password, with a salt that is the same on every attempt for
    /// that name (derived from `secret`, random per process) as a real user's would be.
    pub fn impossible(user: &str, secret: &[u8]) -> Verifier {
        let mut digest = Sha256::new();
        digest.update(secret);
        digest.update(user.as_bytes());
        Verifier {
            iterations: 4096,
            salt: digest.finalize().get(..16).unwrap_or_default().to_vec(),
            stored_key: [0; 32],
            server_key: [0; 32],
        }
    }
}

/// The state between the server's first message and the client's final one.
pub struct Exchange {
    verifier: Verifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    gs2_header: String,
}

/// Why an exchange failed; every kind is reported to the client as the same 28P01.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramError(pub &'static str);

impl Exchange {
    /// Reads the client's first message and answers the server's first message.
    pub fn start(
        verifier: Verifier,
        client_first: &[u8],
    ) -> Result<(Exchange, String), ScramError> {
        let text = std::str::from_utf8(client_first).map_err(|_| ScramError("not UTF-8"))?;
        // gs2-header: "n,," or "y,," (no channel binding); "p=…" needs TLS, which we lack.
        let (gs2_header, bare) = if let Some(rest) = text.strip_prefix("n,") {
            ("n,", rest)
        } else if let Some(rest) = text.strip_prefix("y,") {
            ("y,", rest)
        } else {
            return Err(ScramError("unsupported channel binding"));
        };
        // authzid (empty) then the bare message.
        let bare = bare
            .strip_prefix(',')
            .ok_or(ScramError("authzid not supported"))?;
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
            .ok_or(ScramError("missing client nonce"))?;
        let mut raw = [0u8; 18];
        getrandom::fill(&mut raw).map_err(|_| ScramError("no randomness"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(raw));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        Ok((
            Exchange {
                verifier,
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                nonce,
                gs2_header: format!("{gs2_header},"),
            },
            server_first,
        ))
    }

    /// Checks the client's final message; on success returns the server's final message.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| ScramError("not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(ScramError("missing proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(v) = attr.strip_prefix("c=") {
                binding = Some(v);
            } else if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if binding != Some(B64.encode(self.gs2_header.as_bytes()).as_str()) {
            return Err(ScramError("channel binding mismatch"));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(ScramError("nonce mismatch"));
        }
        let proof = B64.decode(proof).map_err(|_| ScramError("bad proof"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes())?;
        if proof.len() != signature.len() {
            return Err(ScramError("bad proof"));
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        let stored = Sha256::digest(&client_key);
        if !bool::from(stored.as_slice().ct_eq(&self.verifier.stored_key)) {
            return Err(ScramError("wrong password"));
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes())?;
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Result<Vec<u8>, ScramError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| ScramError("hmac key"))?;
    mac.update(msg);
    Ok(mac.finalize().into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    fn login(verifier: &str, password: &str) -> Result<(), ScramError> {
        let v = Verifier::parse(verifier).unwrap();
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let mut first = b"n,,".to_vec();
        // ScramSha256::message() is the whole client-first message, gs2 header included.
        first.clear();
        first.extend_from_slice(client.message());
        let (ex, server_first) = Exchange::start(v, &first)?;
        client
            .update(server_first.as_bytes())
            .map_err(|_| ScramError("client update"))?;
        let server_final = ex.finish(client.message())?;
        client
            .finish(server_final.as_bytes())
            .map_err(|_| ScramError("client rejects server"))
    }

    #[test]
    fn a_postgres_client_logs_in_with_the_right_password_only() {
        let verifier = postgres_protocol::password::scram_sha_256(b"s3cret");
        assert_eq!(login(&verifier, "s3cret"), Ok(()));
        assert_eq!(login(&verifier, "wrong"), Err(ScramError("wrong password")));
        assert!(Verifier::parse("md5abc").is_err());
        assert!(Verifier::parse("SCRAM-SHA-256$0:AAAA$AAAA:AAAA").is_err());
    }
}
