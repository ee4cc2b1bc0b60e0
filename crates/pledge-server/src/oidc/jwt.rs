//! ID tokens: a JWS in compact form (RFC 7515), signed with RS256, PS256 or ES256 by a key of
//! the provider's JWKS (RFC 7517), its claims checked as OpenID Connect Core 1.0, 3.1.3.7
//! says. The signatures are checked by `ring`, which the TLS stack already brings: no JWT
//! library, and no `none` or HMAC algorithms, whatever a token's header asks for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature;
use serde::Deserialize;
use serde_json::Value as Json;

/// The longest ID token looked at, in bytes.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Why an ID token was not accepted. Never says what the token holds beyond the names of
/// its algorithm and key.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a signed JWT in compact form")]
    Malformed,
    #[error("the algorithm `{0}` is not accepted (RS256, PS256 or ES256)")]
    Algorithm(String),
    #[error("no key of the provider's JWKS matches the token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the signature does not verify")]
    Signature,
    #[error("the issuer is not the configured one")]
    Issuer,
    #[error("the audience does not include this client")]
    Audience,
    #[error("the authorized party is another client")]
    AuthorizedParty,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the nonce is not this sign-in's")]
    Nonce,
    #[error("the token names no subject")]
    NoSubject,
}

/// A signature algorithm accepted for ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Ps256,
    Es256,
}

impl Alg {
    fn parse(name: &str) -> Result<Alg, TokenError> {
        match name {
            "RS256" => Ok(Alg::Rs256),
            "PS256" => Ok(Alg::Ps256),
            "ES256" => Ok(Alg::Es256),
            // Only what is safe to log of a name the token chose.
            other => Err(TokenError::Algorithm(
                other
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(20)
                    .collect(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// A public key of the provider.
#[derive(Clone, PartialEq, Eq)]
enum PublicKey {
    /// Modulus and exponent, big-endian, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point: `04 || x || y`.
    P256(Vec<u8>),
}

/// One signing key of a JWKS.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: PublicKey,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Whether this key may check a signature of `alg`.
    fn fits(&self, alg: Alg) -> bool {
        let kind = matches!(
            (&self.key, alg),
            (PublicKey::Rsa { .. }, Alg::Rs256 | Alg::Ps256) | (PublicKey::P256(_), Alg::Es256)
        );
        kind && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }

    fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> Result<(), TokenError> {
        let checked = match (&self.key, alg) {
            (PublicKey::Rsa { n, e }, Alg::Rs256) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig),
            (PublicKey::Rsa { n, e }, Alg::Ps256) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PSS_2048_8192_SHA256, message, sig),
            (PublicKey::P256(point), Alg::Es256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
            }
            _ => return Err(TokenError::Signature),
        };
        checked.map_err(|_| TokenError::Signature)
    }
}

/// The provider's signing keys: those of its JWKS that Pledge can use (RSA, and EC on
/// P-256, not marked for encryption); others are left out.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

impl RawJwk {
    fn usable(self) -> Option<Jwk> {
        if self.usage.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                let strip = |v: Vec<u8>| {
                    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
                    v[start..].to_vec()
                };
                PublicKey::Rsa {
                    n: strip(b64(self.n.as_deref()?)?),
                    e: strip(b64(self.e.as_deref()?)?),
                }
            }
            ("EC", Some("P-256")) => {
                let (x, y) = (b64(self.x.as_deref()?)?, b64(self.y.as_deref()?)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                PublicKey::P256(point)
            }
            _ => return None,
        };
        Some(Jwk {
            kid: self.kid,
            alg: self.alg,
            key,
        })
    }
}

impl Jwks {
    /// A JWKS document (`{"keys": [...]}`).
    pub fn parse(json: &[u8]) -> Result<Jwks, serde_json::Error> {
        let raw: RawJwks = serde_json::from_slice(json)?;
        Ok(Jwks {
            keys: raw.keys.into_iter().filter_map(RawJwk::usable).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that checks a token with `header`: the one of its `kid`, or without a `kid`
    /// the only key that fits its algorithm.
    pub fn find(&self, header: &Header) -> Option<&Jwk> {
        match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.fits(header.alg)),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(header.alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                }
            }
        }
    }
}

/// What a token's header says of its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Alg,
    pub kid: Option<String>,
}

/// A token split into its parts, the header read; nothing verified yet.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub header: Header,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Splits a compact JWS and reads its header.
pub fn parse(token: &str) -> Result<Unverified<'_>, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    #[derive(Deserialize)]
    struct RawHeader {
        alg: String,
        kid: Option<String>,
        crit: Option<Json>,
    }
    let raw: RawHeader = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    // RFC 7515, 4.1.11: extensions that must be understood are not.
    if raw.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    Ok(Unverified {
        header: Header {
            alg: Alg::parse(&raw.alg)?,
            kid: raw.kid,
        },
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: decode(p)?,
        signature: decode(s)?,
    })
}

/// What an ID token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The issuer, exactly as configured (and as discovery confirmed).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Now, seconds since the Unix epoch (the server's clock).
    pub now: i64,
    /// How far the provider's clock may be off ours, in seconds.
    pub leeway: i64,
}

/// The claims of a verified ID token that the console reads.
#[derive(Debug, Clone, PartialEq)]
pub struct IdClaims {
    pub subject: String,
    /// The `email` claim, if the token has one.
    pub email: Option<String>,
    /// The `email_verified` claim, if the token has one (`true` or `"true"` is true).
    pub email_verified: Option<bool>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Json>,
    azp: Option<String>,
    exp: Option<f64>,
    iat: Option<f64>,
    nonce: Option<String>,
    email: Option<Json>,
    email_verified: Option<Json>,
}

/// `true`, or the string `"true"` some providers send.
pub fn truthy(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s == "true" => Some(true),
        Json::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

impl Unverified<'_> {
    /// Checks the signature with `key`, then the claims against `expected`.
    pub fn verify(&self, key: &Jwk, expected: &Expected<'_>) -> Result<IdClaims, TokenError> {
        if !key.fits(self.header.alg) {
            return Err(TokenError::UnknownKey(self.header.kid.clone()));
        }
        key.verify(
            self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )?;
        let c: RawClaims =
            serde_json::from_slice(&self.payload).map_err(|_| TokenError::Malformed)?;
        if c.iss.as_deref() != Some(expected.issuer) {
            return Err(TokenError::Issuer);
        }
        let audiences: Vec<&str> = match &c.aud {
            Some(Json::String(a)) => vec![a.as_str()],
            Some(Json::Array(list)) => list.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences.contains(&expected.client_id) {
            return Err(TokenError::Audience);
        }
        // Core 3.1.3.7, steps 4 and 5: with more than one audience, the token must have been
        // issued to this client.
        match c.azp.as_deref() {
            Some(azp) if azp != expected.client_id => return Err(TokenError::AuthorizedParty),
            None if audiences.len() > 1 => return Err(TokenError::AuthorizedParty),
            _ => {}
        }
        let now = expected.now as f64;
        let leeway = expected.leeway as f64;
        match c.exp {
            Some(exp) if exp + leeway > now => {}
            _ => return Err(TokenError::Expired),
        }
        match c.iat {
            Some(iat) if iat - leeway <= now => {}
            Some(_) => return Err(TokenError::IssuedInFuture),
            None => return Err(TokenError::Malformed),
        }
        let nonce_ok = c.nonce.as_deref().is_some_and(|n| {
            use subtle::ConstantTimeEq;
            bool::from(n.as_bytes().ct_eq(expected.nonce.as_bytes()))
        });
        if !nonce_ok {
            return Err(TokenError::Nonce);
        }
        let subject = c
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(TokenError::NoSubject)?;
        Ok(IdClaims {
            subject,
            email: c.email.as_ref().and_then(Json::as_str).map(str::to_string),
            email_verified: c.email_verified.as_ref().and_then(truthy),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    /// A P-256 key made for the test, and its JWKS.
    pub(crate) struct TestKey {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl TestKey {
        pub(crate) fn new() -> TestKey {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            TestKey { pair, rng }
        }

        fn jwks(&self, kid: &str) -> Jwks {
            Jwks::parse(self.jwks_json(kid).to_string().as_bytes()).unwrap()
        }

        /// The JWKS document with this key as `kid` (and an encryption key to leave out).
        pub(crate) fn jwks_json(&self, kid: &str) -> Json {
            let point = self.pair.public_key().as_ref();
            json!({"keys": [
                {"kty": "RSA", "kid": "other", "n": "sXch", "e": "AQAB", "use": "enc"},
                {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                 "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
            ]})
        }

        pub(crate) fn sign(&self, header: &Json, claims: &Json) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.pair.sign(&self.rng, input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://login.example.com",
            client_id: "pledge-console",
            nonce: "n-0S6_WzA2Mj",
            now: NOW,
            leeway: 60,
        }
    }

    fn claims() -> Json {
        json!({
            "iss": "https://login.example.com", "sub": "248289761001", "aud": "pledge-console",
            "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-0S6_WzA2Mj",
            "email": "ana@example.com", "email_verified": true,
        })
    }

    fn check(key: &TestKey, claims: &Json) -> Result<IdClaims, TokenError> {
        let token = key.sign(&json!({"alg": "ES256", "kid": "k1"}), claims);
        let jwks = key.jwks("k1");
        let unverified = parse(&token)?;
        let jwk = jwks
            .find(&unverified.header)
            .ok_or(TokenError::UnknownKey(None))?;
        unverified.verify(jwk, &expected())
    }

    fn with(change: &[(&str, Json)]) -> Json {
        let mut c = claims();
        for (k, v) in change {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(*k);
            } else {
                c[*k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn a_good_token_verifies_and_gives_its_claims() {
        let key = TestKey::new();
        assert_eq!(key.jwks("k1").len(), 1, "the encryption key is left out");
        let c = check(&key, &claims()).unwrap();
        assert_eq!(c.subject, "248289761001");
        assert_eq!(c.email.as_deref(), Some("ana@example.com"));
        assert_eq!(c.email_verified, Some(true));
        // Several audiences are fine when the token was issued to this client.
        let c = with(&[
            ("aud", json!(["pledge-console", "api"])),
            ("azp", json!("pledge-console")),
            ("email_verified", json!("true")),
        ]);
        assert_eq!(check(&key, &c).unwrap().email_verified, Some(true));
        // Within the leeway.
        let c = with(&[("exp", json!(NOW - 30)), ("iat", json!(NOW + 30))]);
        assert!(check(&key, &c).is_ok());
    }

    #[test]
    fn a_token_for_another_audience_or_sign_in_is_refused() {
        let key = TestKey::new();
        for (change, error) in [
            (vec![("aud", json!("another-client"))], TokenError::Audience),
            (vec![("aud", json!(["api", "other"]))], TokenError::Audience),
            (vec![("aud", Json::Null)], TokenError::Audience),
            (
                vec![("aud", json!(["pledge-console", "api"]))],
                TokenError::AuthorizedParty,
            ),
            (vec![("azp", json!("api"))], TokenError::AuthorizedParty),
            (vec![("nonce", json!("another-nonce"))], TokenError::Nonce),
            (vec![("nonce", Json::Null)], TokenError::Nonce),
            (
                vec![("iss", json!("https://login.example.com/"))],
                TokenError::Issuer,
            ),
            (vec![("exp", json!(NOW - 61))], TokenError::Expired),
            (vec![("exp", Json::Null)], TokenError::Expired),
            (vec![("iat", json!(NOW + 61))], TokenError::IssuedInFuture),
            (vec![("sub", json!(""))], TokenError::NoSubject),
        ] {
            assert_eq!(
                check(&key, &with(&change)),
                Err(error.clone()),
                "{change:?}"
            );
        }
    }

    #[test]
    fn a_token_not_signed_by_the_providers_key_is_refused() {
        let key = TestKey::new();
        let other = TestKey::new();
        let token = other.sign(&json!({"alg": "ES256", "kid": "k1"}), &claims());
        let jwks = key.jwks("k1");
        let u = parse(&token).unwrap();
        assert_eq!(
            u.verify(jwks.find(&u.header).unwrap(), &expected()),
            Err(TokenError::Signature)
        );
        // The payload changed after signing.
        let good = key.sign(&json!({"alg": "ES256", "kid": "k1"}), &claims());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = with(&[("email", json!("eve@example.com"))]);
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged.to_string()),
            parts[2]
        );
        let u = parse(&tampered).unwrap();
        assert_eq!(
            u.verify(jwks.find(&u.header).unwrap(), &expected()),
            Err(TokenError::Signature)
        );
        // An unknown kid finds no key.
        let token = key.sign(&json!({"alg": "ES256", "kid": "k2"}), &claims());
        assert!(jwks.find(&parse(&token).unwrap().header).is_none());
        // No kid: the one key that fits is taken.
        let token = key.sign(&json!({"alg": "ES256"}), &claims());
        let u = parse(&token).unwrap();
        assert!(u.verify(jwks.find(&u.header).unwrap(), &expected()).is_ok());
        // An RSA algorithm with an EC key finds no key.
        let token = key.sign(&json!({"alg": "RS256", "kid": "k1"}), &claims());
        let u = parse(&token).unwrap();
        assert!(jwks.find(&u.header).is_none());
    }

    #[test]
    fn unsigned_hmac_and_malformed_tokens_are_refused() {
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        for (alg, error) in [
            ("none", TokenError::Algorithm("none".into())),
            ("HS256", TokenError::Algorithm("HS256".into())),
        ] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
            assert_eq!(parse(&format!("{header}.{body}.")).unwrap_err(), error);
        }
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.e30",
            &format!(
                "{}.{body}.AA",
                URL_SAFE_NO_PAD.encode("{\"alg\":\"ES256\",\"crit\":[\"b64\"]}")
            ),
            &"a".repeat(MAX_TOKEN + 1),
        ] {
            assert_eq!(parse(bad).unwrap_err(), TokenError::Malformed, "{bad:.40}");
        }
    }
}
