//! Every secret value the process knows (external IDs read from or written to Secrets),
//! and the one function that takes them out of text before it reaches logs, Events,
//! status or CLI output. AWS quotes what it refuses (a trust policy holds the external
//! ID), so error text is scrubbed even though ecsfleet never formats a secret itself.

use std::collections::BTreeSet;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

static KNOWN: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// Remembers `secret` for [`scrub`] for the rest of the process's life.
pub fn remember(secret: &str) {
    // STS's shortest external ID is 2 characters; nothing shorter is taken as a secret.
    if secret.len() < 2 {
        return;
    }
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if known.contains(secret) {
        return;
    }
    drop(known);
    let mut known = KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    known.insert(secret.to_string());
    let encoded = percent_encoded(secret);
    if encoded != secret {
        // IAM returns policy documents URL-encoded, and error text may quote them so.
        known.insert(encoded);
    }
}

/// `text` with every known secret (also URL-encoded) replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Longest first, so a secret that contains another is replaced whole.
    let mut secrets: Vec<&String> = known.iter().filter(|s| text.contains(s.as_str())).collect();
    if secrets.is_empty() {
        return text.to_string();
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut scrubbed = text.to_string();
    for secret in secrets {
        scrubbed = scrubbed.replace(secret.as_str(), REDACTED);
    }
    scrubbed
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent_encoded(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_scrubbed_plain_and_url_encoded() {
        remember("Ext+ID=unit/scrub@1");
        let quoted = "MalformedPolicyDocument: condition sts:ExternalId \"Ext+ID=unit/scrub@1\" \
                      in %7B%22sts%3AExternalId%22%3A%22Ext%2BID%3Dunit%2Fscrub%401%22%7D";
        let scrubbed = scrub(quoted);
        assert!(!scrubbed.contains("unit/scrub"), "{scrubbed}");
        assert!(!scrubbed.contains("unit%2Fscrub"), "{scrubbed}");
        assert_eq!(scrubbed.matches(REDACTED).count(), 2, "{scrubbed}");
        assert_eq!(scrub("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn a_one_character_value_is_not_taken_as_a_secret() {
        remember("x");
        assert_eq!(scrub("x marks the spot"), "x marks the spot");
    }
}
