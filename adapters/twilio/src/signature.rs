//! `X-Twilio-Signature`: pure signing and verification functions.
//!
//! Twilio signs `base64(HMAC-SHA1(auth_token, url + params))`, where `url` is the full public URL
//! it called (scheme, host, optional port, path and query, exactly as configured) and `params`
//! is, for a form POST, every parameter name followed by its values, names sorted by code point
//! and each name's values sorted and de-duplicated, with no separators. A GET signs the URL only.
//! A JSON body is not appended; instead Twilio adds `bodySHA256=<hex sha256 of the body>` to the
//! query, and the hash must match the raw body.
//!
//! Because "signature generation on the back end is inconsistent" (twilio-python), the official
//! validators accept a match on several forms of the URL: as received, with any explicit port
//! removed, and with the scheme's default port (`:443`, `:80`) added; twilio-node also tries the
//! query with `'` percent-encoded (`%27`) and decoded. [`validate`] accepts exactly those. The
//! host's case is never changed, and non-ASCII text is signed as raw UTF-8.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header Twilio signs requests with.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The query parameter carrying the SHA-256 of a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// What was signed besides the URL.
#[derive(Debug, Clone, Copy)]
pub enum SignedContent<'a> {
    /// A form POST: every parameter, in any order; repeated names allowed.
    Form(&'a [(String, String)]),
    /// A JSON (or other non-form) body: the URL must carry its `bodySHA256`.
    Json(&'a [u8]),
    /// Nothing but the URL (a GET).
    UrlOnly,
}

/// The string Twilio signs for `url` and form `params`.
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    let mut out = String::with_capacity(url.len() + params.len() * 24);
    out.push_str(url);
    push_params(&mut out, params);
    out
}

/// Appends the signed form of `params` (names and values sorted, de-duplicated, concatenated).
fn push_params(out: &mut String, params: &[(String, String)]) {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
}

/// `base64(HMAC-SHA1(auth_token, data))`.
pub fn sign_data(auth_token: &str, data: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `X-Twilio-Signature` of a form POST (or, with no params, of a GET) to exactly `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign_data(auth_token, &string_to_sign(url, params))
}

/// Lower-case hex SHA-256 of `body`: the `bodySHA256` value of a JSON webhook.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Whether `signature` is a valid `X-Twilio-Signature` for a request to `url` carrying
/// `content`, accepting every URL form the official validators accept. Constant time in the
/// comparison of signatures and body hashes.
pub fn validate(auth_token: &str, url: &str, content: SignedContent<'_>, signature: &str) -> bool {
    let params: &[(String, String)] = match content {
        SignedContent::Form(params) => params,
        SignedContent::UrlOnly => &[],
        SignedContent::Json(body) => {
            let Some(expected) = query_value(url, BODY_SHA256_PARAM) else {
                return false;
            };
            let actual = body_sha256(body);
            if !bool::from(
                actual
                    .as_bytes()
                    .ct_eq(expected.to_ascii_lowercase().as_bytes()),
            ) {
                return false;
            }
            &[]
        }
    };
    // The signed data is `candidate URL + params`: the params part and the keyed HMAC state are
    // computed once and shared by every URL variant.
    let mut signed_params =
        String::with_capacity(params.iter().map(|(k, v)| k.len() + v.len()).sum());
    push_params(&mut signed_params, params);
    let keyed = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    let mut matched = false;
    for candidate in url_variants(url) {
        let mut mac = keyed.clone();
        mac.update(candidate.as_bytes());
        mac.update(signed_params.as_bytes());
        let mut expected = [0u8; 28];
        let len = STANDARD
            .encode_slice(mac.finalize().into_bytes(), &mut expected)
            .expect("28 base64 characters for 20 bytes");
        // Keep checking every variant so timing does not tell which form matched.
        matched |= bool::from(expected[..len].ct_eq(signature.as_bytes()));
    }
    matched
}

/// Every form of `url` the official validators try, without duplicates, `url` itself first.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(9);
    let mut add = |u: String| {
        let mut push = |q: String| {
            if !out.contains(&q) {
                out.push(q);
            }
        };
        if u.contains('?') {
            query_variants(&u).into_iter().for_each(&mut push);
        } else {
            // Without a query the only variant is `u` itself.
            push(u);
        }
    };
    add(url.to_owned());
    if let Some(parts) = split_url(url) {
        add(parts.join(parts.without_port()));
        add(parts.join(&parts.with_default_port()));
    }
    out
}

/// `url` as is, with `'` encoded as `%27` in the query, and with `%27` decoded to `'`.
fn query_variants(url: &str) -> Vec<String> {
    match url.split_once('?') {
        Some((base, query)) => vec![
            url.to_owned(),
            format!("{base}?{}", query.replace('\'', "%27")),
            format!("{base}?{}", query.replace("%27", "'")),
        ],
        None => vec![url.to_owned()],
    }
}

/// The first value of query parameter `name` in `url`, decoded.
fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A URL cut around its port: `scheme://userinfo@host` `:port` `/rest`.
struct UrlParts<'a> {
    scheme: &'a str,
    before_port: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

impl UrlParts<'_> {
    fn without_port(&self) -> &str {
        ""
    }

    fn with_default_port(&self) -> String {
        match (self.port, self.scheme.to_ascii_lowercase().as_str()) {
            (Some(p), _) => format!(":{p}"),
            (None, "https") => ":443".to_owned(),
            (None, "http") => ":80".to_owned(),
            (None, _) => String::new(),
        }
    }

    fn join(&self, port: &str) -> String {
        let mut out = String::with_capacity(self.before_port.len() + port.len() + self.rest.len());
        out.push_str(self.before_port);
        out.push_str(port);
        out.push_str(self.rest);
        out
    }
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")?;
    let authority_start = scheme_end + 3;
    let authority_len = url[authority_start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - authority_start);
    let authority_end = authority_start + authority_len;
    let authority = &url[authority_start..authority_end];
    // The host starts after any userinfo; an IPv6 host is bracketed.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_and_port = &authority[host_start..];
    let port_colon = match host_and_port.rfind(']') {
        Some(close) => host_and_port[close..].find(':').map(|i| close + i),
        None => host_and_port.rfind(':'),
    };
    let (before_port_end, port) = match port_colon {
        Some(i) => {
            let port = &host_and_port[i + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                (authority_end, None)
            } else {
                (authority_start + host_start + i, Some(port))
            }
        }
        None => (authority_end, None),
    };
    Some(UrlParts {
        scheme: &url[..scheme_end],
        before_port: &url[..before_port_end],
        port,
        rest: &url[authority_end..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn string_to_sign_sorts_names_and_values() {
        let p = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "z".to_owned()),
            ("a".to_owned(), "y".to_owned()),
            ("a".to_owned(), "y".to_owned()),
        ];
        assert_eq!(string_to_sign("https://x/", &p), "https://x/ayazb2");
    }

    #[test]
    fn variants_cover_ports_and_quotes() {
        let v = url_variants("https://user@example.com:8443/p?q='a'");
        assert!(v.contains(&"https://user@example.com/p?q='a'".to_owned()));
        assert!(v.contains(&"https://user@example.com:8443/p?q=%27a%27".to_owned()));
        let v = url_variants("http://example.com/p");
        assert_eq!(v, ["http://example.com/p", "http://example.com:80/p"]);
        let v = url_variants("https://[::1]:8080/x");
        assert!(v.contains(&"https://[::1]/x".to_owned()), "{v:?}");
        let v = url_variants("https://[::1]/x");
        assert!(v.contains(&"https://[::1]:443/x".to_owned()), "{v:?}");
    }

    #[test]
    fn documented_example_signs_and_validates() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = sign("12345", url, &basic_params());
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(validate(
            "12345",
            url,
            SignedContent::Form(&basic_params()),
            &sig
        ));
        assert!(!validate(
            "54321",
            url,
            SignedContent::Form(&basic_params()),
            &sig
        ));
        let host_upper = "https://MyCompany.com/myapp.php?foo=1&bar=2";
        assert!(!validate(
            "12345",
            host_upper,
            SignedContent::Form(&basic_params()),
            &sig
        ));
    }

    #[test]
    fn json_body_must_match_its_hash() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = format!(
            "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={}",
            body_sha256(body)
        );
        let sig = sign("12345", &url, &[]);
        assert_eq!(sig, "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(validate("12345", &url, SignedContent::Json(body), &sig));
        assert!(!validate("12345", &url, SignedContent::Json(b"{}"), &sig));
    }
}
