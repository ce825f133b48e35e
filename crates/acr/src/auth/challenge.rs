//! `WWW-Authenticate` parsing (RFC 7235 §4.1).
//!
//! The header is a comma-separated list that mixes challenges and their parameters:
//! `Bearer realm="…",service="…", Basic realm="x"`. A new challenge starts where a token is
//! followed by something other than `=`. Quoted strings may hold commas and escaped quotes,
//! and whitespace may surround every separator. Unparseable fragments are skipped, never
//! fatal: the header comes from the network.

/// One challenge: a scheme and its parameters, names lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of a parameter, looked up case-insensitively.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What a `Bearer` challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct BearerChallenge {
    pub(crate) realm: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) error: Option<String>,
}

/// The first `Bearer` challenge among all the `WWW-Authenticate` values of a response.
pub(crate) fn bearer(headers: &http::HeaderMap) -> Option<BearerChallenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .flat_map(|value| parse(value.as_bytes()))
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .map(|c| BearerChallenge {
            realm: c.param("realm").map(str::to_owned),
            service: c.param("service").map(str::to_owned),
            scope: c.param("scope").map(str::to_owned),
            error: c.param("error").map(str::to_owned),
        })
}

/// Every challenge in one header value, in order.
pub(crate) fn parse(header: &[u8]) -> Vec<Challenge> {
    let mut lexer = Lexer {
        input: header,
        at: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        lexer.skip(|b| is_space(b) || b == b',');
        if lexer.at_end() {
            return challenges;
        }
        let Some(name) = lexer.token() else {
            // Not a token: skip to the next list element.
            lexer.skip(|b| b != b',');
            continue;
        };
        lexer.skip(is_space);
        if lexer.peek() == Some(b'=') {
            lexer.at += 1;
            lexer.skip(is_space);
            let value = match lexer.peek() {
                Some(b'"') => Some(lexer.quoted()),
                _ => lexer.token(),
            };
            // A value without a challenge before it, or token68 padding (`abc==`), is
            // dropped with the rest of its list element.
            if let (Some(challenge), Some(value)) = (challenges.last_mut(), value) {
                challenge.params.push((name.to_ascii_lowercase(), value));
            }
            lexer.skip(|b| b != b',');
        } else {
            challenges.push(Challenge {
                scheme: name,
                params: Vec::new(),
            });
        }
    }
}

struct Lexer<'a> {
    input: &'a [u8],
    at: usize,
}

impl Lexer<'_> {
    fn at_end(&self) -> bool {
        self.at >= self.input.len()
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn skip(&mut self, mut while_: impl FnMut(u8) -> bool) {
        while self.peek().is_some_and(&mut while_) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.at;
        self.skip(is_tchar);
        (self.at > start).then(|| String::from_utf8_lossy(&self.input[start..self.at]).into_owned())
    }

    /// A quoted string, the lexer on its opening quote. An unterminated string runs to the
    /// end of the header.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut value = Vec::new();
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.at += 1;
                    }
                }
                _ => value.push(byte),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }
}

fn is_space(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

// RFC 7230 §3.2.6.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Challenge {
        let mut all = parse(header.as_bytes());
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn params(challenge: &Challenge) -> Vec<(&str, &str)> {
        challenge
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn acr_challenge_as_the_service_sends_it() {
        let c = one(
            r#"Bearer realm="https://r.azurecr.io/oauth2/token",service="r.azurecr.io",scope="repository:library/hello-world:metadata_write",error="insufficient_scope""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(
            params(&c),
            [
                ("realm", "https://r.azurecr.io/oauth2/token"),
                ("service", "r.azurecr.io"),
                ("scope", "repository:library/hello-world:metadata_write"),
                ("error", "insufficient_scope"),
            ]
        );
    }

    #[test]
    fn spaces_around_separators_and_case_insensitive_names() {
        let c = one(r#"bearer   Realm = "r" ,  SERVICE="s" ,scope=token-value"#);
        assert_eq!(
            params(&c),
            [("realm", "r"), ("service", "s"), ("scope", "token-value")]
        );
        assert_eq!(c.param("Service"), Some("s"));
    }

    #[test]
    fn quoted_strings_hold_commas_and_escaped_quotes() {
        let c = one(r#"Bearer scope="repository:a:pull,push", realm="say \"hi\", \\ ok""#);
        assert_eq!(
            params(&c),
            [
                ("scope", "repository:a:pull,push"),
                ("realm", r#"say "hi", \ ok"#)
            ]
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let all =
            parse(br#"Basic realm="basic", Bearer realm="b",service="s", Negotiate abc==, Digest"#);
        let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Negotiate", "Digest"]);
        assert_eq!(params(&all[1]), [("realm", "b"), ("service", "s")]);
        assert!(all[2].params.is_empty() && all[3].params.is_empty());
    }

    #[test]
    fn bearer_is_found_among_several_header_values() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            "www-authenticate",
            http::HeaderValue::from_static("Basic realm=\"x\""),
        );
        headers.append(
            "www-authenticate",
            http::HeaderValue::from_static("BEARER service=\"s\",scope=\"registry:catalog:*\""),
        );
        let bearer = bearer(&headers).unwrap();
        assert_eq!(bearer.service.as_deref(), Some("s"));
        assert_eq!(bearer.scope.as_deref(), Some("registry:catalog:*"));
        assert_eq!(bearer.realm, None);
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        assert_eq!(parse(b""), []);
        assert_eq!(parse(b" , ,"), []);
        assert_eq!(parse(b"=x, \"orphan\""), []);
        let c = one(r#"Bearer realm="unterminated, service="s""#);
        assert_eq!(params(&c), [("realm", "unterminated, service=")]);
        let c = one("Bearer \u{1}junk, service=\"s\", scope=");
        assert_eq!(params(&c), [("service", "s")]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(header in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&header);
        }

        #[test]
        fn quoted_values_round_trip(
            scheme in "[A-Za-z][A-Za-z0-9]{0,10}",
            values in proptest::collection::vec("[ -~]{0,20}", 1..5),
        ) {
            let header = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!(r#"p{i}="{}""#, v.replace('\\', r"\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(" , ");
            let parsed = parse(format!("{scheme} {header}").as_bytes());
            proptest::prop_assert_eq!(parsed.len(), 1);
            let got: Vec<_> = parsed[0].params.iter().map(|(_, v)| v.clone()).collect();
            proptest::prop_assert_eq!(got, values);
        }
    }
}
