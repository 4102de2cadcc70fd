//! Access tokens as CipherTrust Manager issues them: HS256 JWTs with `iat`, `exp`, `sub`,
//! `preferred_username` and `cust.groups`. Refresh tokens are stored as SHA-256 digests.

use aws_lc_rs::digest::{SHA256, digest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyward_core::CoreError;
use keyward_core::ports::{AccessClaims, AccessTokens};
use keyward_core::secret::SecretBytes;
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "keyward";

#[derive(Debug, Serialize, Deserialize)]
struct Cust {
    groups: Vec<String>,
    client_id: String,
    domain_id: String,
    zone_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    preferred_username: String,
    cust: Cust,
    jti: String,
    iat: i64,
    exp: i64,
}

pub struct JwtTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtTokens {
    /// `key` is the token-signing key (at least 32 bytes), kept sealed in the store.
    pub fn new(key: &SecretBytes) -> Result<Self, CoreError> {
        if key.len() < 32 {
            return Err(CoreError::internal("the token-signing key is too short"));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(key.expose()),
            decoding: DecodingKey::from_secret(key.expose()),
        })
    }
}

const MALFORMED: &str = "Unauthorised: Bearer token malformed";

impl AccessTokens for JwtTokens {
    fn issue(&self, c: &AccessClaims) -> Result<String, CoreError> {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: format!("local|{}", c.user_id),
            aud: c.client_id.clone(),
            preferred_username: c.username.clone(),
            cust: Cust {
                groups: c.groups.clone(),
                client_id: c.client_id.clone(),
                domain_id: "00000000-0000-0000-0000-000000000000".into(),
                zone_id: "00000000-0000-0000-0000-000000000000".into(),
            },
            jti: c.token_id.clone(),
            iat: c.issued_at,
            exp: c.expires_at,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| CoreError::internal("signing an access token failed"))
    }

    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, CoreError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[ISSUER]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| CoreError::Unauthorized(MALFORMED.into()))?;
        let c = data.claims;
        if c.exp <= now {
            return Err(CoreError::Unauthorized(format!(
                "{MALFORMED}: Token is expired by {}s",
                now - c.exp
            )));
        }
        if c.iat > now + 60 {
            return Err(CoreError::Unauthorized(format!(
                "{MALFORMED}: issued in the future"
            )));
        }
        let user_id = c
            .sub
            .strip_prefix("local|")
            .ok_or_else(|| CoreError::Unauthorized(MALFORMED.into()))?
            .to_string();
        Ok(AccessClaims {
            user_id,
            username: c.preferred_username,
            groups: c.cust.groups,
            client_id: c.cust.client_id,
            token_id: c.jti,
            issued_at: c.iat,
            expires_at: c.exp,
        })
    }

    fn digest(&self, token: &str) -> String {
        hex::encode(digest(&SHA256, token.as_bytes()).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(byte: u8) -> JwtTokens {
        JwtTokens::new(&SecretBytes::new(vec![byte; 32])).unwrap()
    }

    fn claims(iat: i64) -> AccessClaims {
        AccessClaims {
            user_id: "u1".into(),
            username: "alice".into(),
            groups: vec!["admin".into()],
            client_id: "c1".into(),
            token_id: "t1".into(),
            issued_at: iat,
            expires_at: iat + 300,
        }
    }

    #[test]
    fn round_trip_and_claims() {
        let t = tokens(7);
        let jwt = t.issue(&claims(1_000)).unwrap();
        let back = t.verify(&jwt, 1_100).unwrap();
        assert_eq!(back, claims(1_000));
        // The payload carries CipherTrust's claim names.
        let payload = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["preferred_username"], "alice");
        assert_eq!(json["cust"]["groups"][0], "admin");
        assert_eq!(
            json["exp"].as_i64().unwrap() - json["iat"].as_i64().unwrap(),
            300
        );
        assert_eq!(json["sub"], "local|u1");
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let t = tokens(7);
        let jwt = t.issue(&claims(1_000)).unwrap();
        let err = t.verify(&jwt, 1_350).unwrap_err();
        assert!(err.to_string().contains("expired by 50s"), "{err}");
        assert!(tokens(8).verify(&jwt, 1_100).is_err());
        assert!(t.verify("not.a.token", 1_100).is_err());
    }

    #[test]
    fn digest_is_sha256_hex() {
        let t = tokens(1);
        assert_eq!(
            t.digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn the_dummy_login_hash_is_a_real_argon2_hash() {
        use argon2::password_hash::PasswordHash;
        assert!(PasswordHash::new(keyward_core::auth::DUMMY_HASH).is_ok());
    }
}
