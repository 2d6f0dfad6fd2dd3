//! The one error of this crate: bad client input, as a message the API
//! answers with a 400.

/// Why an input was rejected: `<field>: <what is wrong; what is allowed>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

/// A [`ValidationError`] from any message.
pub(crate) fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_bare_message() {
        let error = invalid("name: must not be empty");
        assert_eq!(error.to_string(), "name: must not be empty");
        assert_eq!(error, ValidationError("name: must not be empty".into()));
    }
}
