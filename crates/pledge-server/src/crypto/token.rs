//! Signed links for the preference centre and one-click unsubscribe.
//!
//! A link token names a subject, what it may do and until when, and carries an HMAC-SHA256
//! of all that under the server's link key: no table is needed to check it, and nobody
//! without the key can make one or change one. Time is a parameter.
//!
//! Format: `base64url(payload JSON) "." base64url(tag)`, the tag computed over a fixed
//! label and the encoded payload, so a tag made for something else never verifies here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use pledge_lang::types::PurposeId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

/// Separates these tags from any other use of the key.
const LABEL: &[u8] = b"pledge-link-v1.";

/// The shortest link key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// See and change every preference of the subject.
    Preferences,
    /// Withdraw the named marketing purposes, and nothing else.
    Unsubscribe,
}

/// The content of a verified link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    pub kind: LinkKind,
    /// The subject id, as the ledger names the person.
    pub subject: String,
    /// For an unsubscribe link: the purposes it withdraws.
    pub purposes: Vec<PurposeId>,
    /// Seconds since the Unix epoch after which the link no longer works.
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    k: LinkKind,
    s: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    p: Vec<String>,
    e: i64,
}

/// Why a token was refused. The messages are safe to show to the person holding it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("the link is not one of ours or was changed")]
    Invalid,
    #[error("the link has expired; ask for a new one")]
    Expired,
}

fn mac(key: &[u8], encoded_payload: &str) -> Hmac<Sha256> {
    // Invariant: HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(LABEL);
    mac.update(encoded_payload.as_bytes());
    mac
}

/// The token for `link` under `key`.
pub fn sign(key: &[u8], link: &SignedLink) -> String {
    let payload = Payload {
        k: link.kind,
        s: link.subject.clone(),
        p: link.purposes.iter().map(ToString::to_string).collect(),
        e: link.expires_at,
    };
    // A struct of strings and integers always serialises.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let encoded = URL_SAFE_NO_PAD.encode(json);
    let tag = mac(key, &encoded).finalize().into_bytes();
    format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks the tag (in constant time), then the content, then the expiry at `now`.
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<SignedLink, TokenError> {
    let (encoded, tag) = token.split_once('.').ok_or(TokenError::Invalid)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Invalid)?;
    mac(key, encoded)
        .verify_slice(&tag)
        .map_err(|_| TokenError::Invalid)?;
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Invalid)?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
    let purposes = payload
        .p
        .iter()
        .map(|p| p.parse())
        .collect::<Result<Vec<PurposeId>, _>>()
        .map_err(|_| TokenError::Invalid)?;
    if now >= payload.e {
        return Err(TokenError::Expired);
    }
    Ok(SignedLink {
        kind: payload.k,
        subject: payload.s,
        purposes,
        expires_at: payload.e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"a test key of at least thirty-two bytes";

    fn link(kind: LinkKind) -> SignedLink {
        SignedLink {
            kind,
            subject: "user-42".to_string(),
            purposes: vec!["newsletter".parse().expect("a valid purpose id")],
            expires_at: 2_000,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let l = link(LinkKind::Unsubscribe);
        let token = sign(KEY, &l);
        assert_eq!(verify(KEY, &token, 1_999), Ok(l));
        assert_eq!(verify(KEY, &token, 2_000), Err(TokenError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_payload_is_refused() {
        let token = sign(KEY, &link(LinkKind::Preferences));
        assert_eq!(
            verify(b"another key, also thirty-two bytes", &token, 0),
            Err(TokenError::Invalid)
        );
        // Claim an unsubscribe link to be a preferences link: the tag no longer matches.
        let forged = sign(KEY, &link(LinkKind::Unsubscribe));
        let (_, tag) = forged.split_once('.').expect("two parts");
        let (payload, _) = token.split_once('.').expect("two parts");
        assert_eq!(
            verify(KEY, &format!("{payload}.{tag}"), 0),
            Err(TokenError::Invalid)
        );
        for bad in ["", ".", "abc", "abc.def", "..."] {
            assert_eq!(verify(KEY, bad, 0), Err(TokenError::Invalid), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_verifies_and_never_panics(text in "\\PC{0,200}") {
            prop_assert!(verify(KEY, &text, 0).is_err());
        }

        #[test]
        fn flipping_any_character_breaks_the_token(index in 0usize..200, c in "[A-Za-z0-9_.-]") {
            let token = sign(KEY, &link(LinkKind::Preferences));
            let index = index % token.len();
            let mut changed = token.clone();
            changed.replace_range(index..=index, &c);
            prop_assume!(changed != token);
            prop_assert!(verify(KEY, &changed, 0).is_err());
        }
    }
}
