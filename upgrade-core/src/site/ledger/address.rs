//! `DatabaseUrl`: the `--db` address (a SQLite path, `sqlite://PATH`, a
//! PostgreSQL URL or a libpq `key=value` connection string), and [`redact`],
//! the only form in which an address is ever printed: every password masked.
//!
//! Passwords are found the way a driver would read them, and then some:
//! - in a URL, the user info runs up to the *last* `@` (a password written
//!   raw may hold `/`, `?`, `#` or `@`), and everything after its first `:`
//!   is masked, percent-escapes included;
//! - every query parameter whose (percent-decoded) name is `password`, in any
//!   case and however often repeated, is masked (parsed with the `url` crate);
//! - in a `key=value` connection string, every `password` value, quoted
//!   (`'…'` with `\` escapes) or not, is masked.

use std::fmt;
use std::path::PathBuf;

use super::{Database, LedgerError};

/// What a masked secret prints as.
const MASK: &str = "***";

/// The first keys a libpq `key=value` connection string may start with.
const KEY_VALUE_KEYS: [&str; 12] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "channel_binding",
];

/// Where the site database is: what `--db` says.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (a plain path or `sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`) or
    /// `key=value` connection string.
    Postgres(String),
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseUrl::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

impl DatabaseUrl {
    /// Parses `--db`: a path, `sqlite://PATH` (`sqlite:///abs/path` for an
    /// absolute one), `postgres://user@host:port/db` or a libpq connection
    /// string (`host=… dbname=… user=…`).
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |reason: &str| LedgerError::BadUrl {
            url: redact(text),
            reason: reason.to_string(),
        };
        if text.trim().is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("sqlite:// needs a file path after it"));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            return Err(bad(&format!(
                "`{scheme}://` is not a supported database (supported: sqlite, postgres)"
            )));
        }
        if is_key_values(text) {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
    }

    /// The engine.
    pub fn database(&self) -> Database {
        match self {
            DatabaseUrl::Sqlite(_) => Database::Sqlite,
            DatabaseUrl::Postgres(_) => Database::Postgres,
        }
    }

    /// The address for messages, without any password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => redact(url),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Does `text` start like a libpq connection string (`host=…`)?
fn is_key_values(text: &str) -> bool {
    let text = text.trim_start();
    let key_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let key = &text[..key_end];
    KEY_VALUE_KEYS.contains(&key) && text[key_end..].trim_start().starts_with('=')
}

/// An address with every password masked: a URL's user-info password, any
/// `password` query parameter, and any `password` of a `key=value` string.
pub fn redact(text: &str) -> String {
    match text.find("://") {
        Some(i) => redact_url(&text[..i], &text[i + 3..]),
        None if text.contains('=') => redact_key_values(text),
        None => text.to_string(),
    }
}

fn redact_url(scheme: &str, rest: &str) -> String {
    let (user, host) = match rest.rfind('@') {
        Some(at) => {
            let info = &rest[..at];
            let user = match info.find(':') {
                Some(colon) => format!("{}:{MASK}@", &info[..colon]),
                None => format!("{info}@"),
            };
            (user, &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    format!("{scheme}://{user}{}", redact_query(scheme, host))
}

/// Masks `password` query parameters of `host` (host, path, query, fragment).
fn redact_query(scheme: &str, host: &str) -> String {
    let Some(q) = host.find('?') else {
        return host.to_string();
    };
    // The url crate decodes the names (`pass%77ord`) and re-encodes the query.
    let parsed = url::Url::parse(&format!("{scheme}://h/{}", &host[q..]));
    match parsed {
        Ok(mut url) if url.query().is_some() => {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_password_key(&k) {
                        MASK.to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
            let fragment = url.fragment().map(|f| format!("#{f}")).unwrap_or_default();
            format!(
                "{}?{}{fragment}",
                &host[..q],
                url.query().unwrap_or_default()
            )
        }
        // Not a query the url crate reads: mask from the `?` on.
        _ => format!("{}?{MASK}", &host[..q]),
    }
}

fn is_password_key(key: &str) -> bool {
    key.trim().eq_ignore_ascii_case("password")
}

/// Masks every `password` value of a libpq `key = value` connection string.
fn redact_key_values(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        // White space between pairs.
        if chars[i].is_whitespace() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The key, up to `=` or white space.
        let key_start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[key_start..i].iter().collect();
        out.push_str(&key);
        while i < chars.len() && chars[i].is_whitespace() {
            out.push(chars[i]);
            i += 1;
        }
        if i >= chars.len() || chars[i] != '=' {
            continue;
        }
        out.push('=');
        i += 1;
        while i < chars.len() && chars[i].is_whitespace() {
            out.push(chars[i]);
            i += 1;
        }
        // The value: quoted with `\` escapes, or up to white space.
        let value_start = i;
        if i < chars.len() && chars[i] == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = i.min(chars.len());
        }
        if is_password_key(&key) {
            out.push_str(MASK);
        } else {
            out.extend(&chars[value_start..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_db_addresses() {
        assert_eq!(
            DatabaseUrl::parse("site.db").expect("path"),
            DatabaseUrl::Sqlite("site.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").expect("url"),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel/x.db").expect("url"),
            DatabaseUrl::Sqlite("rel/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/d")
                .expect("pg")
                .database(),
            Database::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("host=db user=me password=x dbname=site")
                .expect("key=value")
                .database(),
            Database::Postgres
        );
        for bad in ["mysql://root@localhost/site", "", "sqlite://"] {
            let err = DatabaseUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, LedgerError::BadUrl { .. }), "{bad}: {err}");
        }
        let err = DatabaseUrl::parse("mysql://u:secret@h/d").expect_err("mysql");
        assert!(err.to_string().contains("`mysql://`"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn plain_passwords_are_masked() {
        assert_eq!(
            redact("postgres://me:s3cret@db:5432/site?sslmode=disable"),
            "postgres://me:***@db:5432/site?sslmode=disable"
        );
        assert_eq!(redact("postgres://me@db/site"), "postgres://me@db/site");
        assert_eq!(redact("site.db"), "site.db");
    }

    #[test]
    fn passwords_with_url_delimiters_are_masked() {
        for (url, secret) in [
            ("postgres://me:pa/ss@db/site", "pa/ss"),
            ("postgres://me:pa?ss@db/site", "pa?ss"),
            ("postgres://me:pa#ss@db/site", "pa#ss"),
            ("postgres://me:p@ss@db/site", "p@ss"),
            ("postgres://me:p%40ss%2Fw@db/site", "p%40ss"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(
                shown.starts_with("postgres://me:***@") && shown.ends_with("db/site"),
                "{url} -> {shown}"
            );
        }
    }

    #[test]
    fn password_parameters_are_masked() {
        assert_eq!(
            redact("postgres://db/site?password=x&user=me"),
            "postgres://db/site?password=***&user=me"
        );
        for url in [
            "postgres://db/site?user=me&password=s3cret&password=s3cret2",
            "postgres://db/site?PASSWORD=s3cret",
            "postgres://db/site?pass%77ord=s3cret",
            "postgres://db/site?password=s3%2Fcret#frag",
            "postgres://me:s3cret@db/site?password=s3cret",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("s3"), "{url} -> {shown}");
            assert!(shown.contains("db/site?"), "{url} -> {shown}");
        }
    }

    #[test]
    fn key_value_passwords_are_masked() {
        assert_eq!(
            redact("host=db user=me password=s3cret dbname=site"),
            "host=db user=me password=*** dbname=site"
        );
        for text in [
            "host=db password = 's3 cret' dbname=site",
            "host=db password='s3\\'cret' dbname=site",
            "password=s3cret",
            "host=db password=s3cret password=s3cret2",
        ] {
            let shown = redact(text);
            assert!(!shown.contains("s3"), "{text} -> {shown}");
        }
    }
}
