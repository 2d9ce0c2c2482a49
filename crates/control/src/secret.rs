//! Values that must never be printed: passwords and account strings.
//!
//! [`Secret`] wraps a value so that neither `Debug` nor any log line can show
//! it. The only way to the inner value is the explicitly named
//! [`Secret::expose_secret`], which the command encoder calls when it writes
//! `PASS` or `ACCT` to the wire.

use std::fmt;

/// A value that is redacted in `Debug` output and has no `Display`.
///
/// ```
/// use ftpkit_control::Secret;
/// let pw = Secret::new(String::from("hunter2"));
/// assert_eq!(format!("{pw:?}"), "[REDACTED]");
/// assert_eq!(pw.expose_secret(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(inner: T) -> Self {
        Self(inner)
    }

    /// Gives access to the secret. Call sites are easy to audit by this name.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_even_nested() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: String,
            pass: Secret<String>,
        }
        let l = Login {
            user: "bob".into(),
            pass: "s3cr3t-pw".into(),
        };
        let shown = format!("{l:?} {l:#?}");
        assert!(!shown.contains("s3cr3t-pw"));
        assert!(shown.contains("[REDACTED]"));
    }
}
