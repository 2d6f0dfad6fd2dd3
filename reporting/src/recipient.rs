//! Who receives a scheduled report: an e-mail address or a webhook URL.
//!
//! The checks are deliberately simple (no DNS, no full RFC 5322): they catch
//! typos and things that are plainly neither, and leave deliverability to
//! the sender.

use std::fmt;
use std::net::Ipv6Addr;

use serde::{Serialize, Serializer};

use crate::error::{invalid, ValidationError};

/// At most this many characters in an e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// At most this many characters in a webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// One recipient of a schedule's runs, serialized as its plain text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// An e-mail address: one `@`, a non-empty local part, a domain with a
    /// dot.
    Email(String),
    /// An `http` or `https` URL with a host; it is sent a POST per run.
    Webhook(String),
}

impl Recipient {
    /// Reads one recipient (trimmed); an error names `path`, such as
    /// `recipients[2]`.
    pub fn parse(text: &str, path: &str) -> Result<Recipient, ValidationError> {
        let text = text.trim();
        let fail = |why: &str| Err(invalid(format!("{path}: \"{text}\" {why}")));
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return fail(
                "contains spaces or control characters; give an e-mail address or an http(s) URL",
            );
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if text.chars().count() > MAX_URL_CHARS {
                return fail(&format!(
                    "is too long; a URL has at most {MAX_URL_CHARS} characters"
                ));
            }
            if !has_valid_host(text) {
                return fail("is not a valid URL; it needs a host, such as https://hooks.example.com/reports");
            }
            return Ok(Recipient::Webhook(text.to_owned()));
        }
        if lower.contains("://") {
            return fail("is not an http or https URL");
        }
        if text.chars().count() > MAX_EMAIL_CHARS {
            return fail(&format!(
                "is too long; an e-mail address has at most {MAX_EMAIL_CHARS} characters"
            ));
        }
        if !is_email(text) {
            return fail("is neither an e-mail address (name@example.com) nor an http(s) URL");
        }
        Ok(Recipient::Email(text.to_owned()))
    }

    /// The address or URL.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Email(text) | Recipient::Webhook(text) => text,
        }
    }

    /// What two recipients are compared by: e-mail addresses ignore case.
    pub(crate) fn identity(&self) -> String {
        match self {
            Recipient::Email(address) => address.to_lowercase(),
            Recipient::Webhook(url) => url.clone(),
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One `@`, something before it, and a domain of non-empty dot-separated
/// labels, at least two.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(is_host_label)
}

/// Letters, digits and inner hyphens (internationalized names are letters
/// too).
fn is_host_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

/// The authority of `scheme://authority/...` holds a host: a name, an IPv4
/// address or a bracketed IPv6 address, then an optional numeric port.
fn has_valid_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials (`user:secret@`) are allowed and not looked at.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host_ok, after_host) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((ipv6, after)) => (ipv6.parse::<Ipv6Addr>().is_ok(), after),
            None => return false,
        },
        None => {
            let (host, port) = host_port.split_at(host_port.find(':').unwrap_or(host_port.len()));
            (host.split('.').all(is_host_label), port)
        }
    };
    let port_ok = after_host.is_empty()
        || after_host
            .strip_prefix(':')
            .filter(|port| port.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|port| port.parse::<u16>().ok())
            .is_some_and(|port| port > 0);
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recipient, String> {
        Recipient::parse(text, "recipients[2]").map_err(|e| e.0)
    }

    #[test]
    fn accepts_email_addresses() {
        for address in [
            "anna@example.com",
            "a.b+reports@mail.example.co.uk",
            "ops@xn--mnchen-3ya.de",
            "jürgen@münchen.de",
        ] {
            assert_eq!(parse(address), Ok(Recipient::Email(address.into())));
        }
        assert_eq!(
            parse("  anna@example.com "),
            Ok(Recipient::Email("anna@example.com".into()))
        );
    }

    #[test]
    fn accepts_http_and_https_urls() {
        for url in [
            "https://hooks.example.com/reports",
            "http://localhost:8080/hook",
            "https://10.0.0.7/x?y=1#z",
            "https://user:secret@example.com",
            "https://[2001:db8::1]:8443/hook",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert_eq!(parse(url), Ok(Recipient::Webhook(url.into())), "{url}");
        }
    }

    #[test]
    fn rejects_what_is_neither() {
        for text in [
            "anna",
            "anna@",
            "@example.com",
            "anna@example",
            "anna@@example.com",
            "a@b@example.com",
            "anna@example..com",
            "anna@-example.com",
            "anna@.com",
            "",
        ] {
            assert_eq!(
                parse(text),
                Err(format!(
                    "recipients[2]: \"{text}\" is neither an e-mail address (name@example.com) \
                     nor an http(s) URL"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_urls() {
        for url in [
            "https://",
            "https:///path",
            "http://:80/",
            "https://example.com:0/",
            "https://example.com:99999/",
            "https://example.com:port/",
            "https://exa_mple.com/",
            "https://[zz::1]/",
            "https://[::1/",
            "https://[::1]x/",
            "https://example.com:+80/",
        ] {
            let error = parse(url).unwrap_err();
            assert!(
                error.contains("is not a valid URL; it needs a host"),
                "{url}: {error}"
            );
        }
        assert_eq!(
            parse("ftp://example.com/x").unwrap_err(),
            "recipients[2]: \"ftp://example.com/x\" is not an http or https URL"
        );
        assert!(parse("anna @example.com")
            .unwrap_err()
            .contains("contains spaces"));
        assert!(parse("https://example.com/a b")
            .unwrap_err()
            .contains("contains spaces"));
    }

    #[test]
    fn rejects_overlong_recipients() {
        let address = format!("{}@example.com", "a".repeat(250));
        assert!(parse(&address)
            .unwrap_err()
            .contains("at most 254 characters"));
        let url = format!("https://example.com/{}", "a".repeat(2048));
        assert!(parse(&url).unwrap_err().contains("at most 2048 characters"));
    }

    #[test]
    fn email_identity_ignores_case() {
        let a = parse("Anna@Example.com").unwrap();
        let b = parse("anna@example.com").unwrap();
        assert_eq!(a.identity(), b.identity());
        let u = parse("https://example.com/A").unwrap();
        let v = parse("https://example.com/a").unwrap();
        assert_ne!(u.identity(), v.identity());
    }

    #[test]
    fn serializes_as_text() {
        let recipient = parse("https://example.com/hook").unwrap();
        assert_eq!(recipient.to_string(), "https://example.com/hook");
        assert_eq!(
            serde_json::to_value(&recipient).unwrap(),
            serde_json::json!("https://example.com/hook")
        );
    }
}
