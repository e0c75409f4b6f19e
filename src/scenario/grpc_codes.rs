//! gRPC status code names as a scenario writes them (`code = "NOT_FOUND"`)
//! and as reports show them. The names are the scenario's vocabulary: the
//! compiler checks them, and the gRPC client names the codes it gets with
//! the same table.

/// The names, indexed by code number (0 to 16).
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A name that is no gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a gRPC code name (OK, NOT_FOUND, UNAVAILABLE, ...)")]
pub struct UnknownCode(pub String);

/// The code for a name such as "NOT_FOUND" (any case).
pub fn code_from_name(name: &str) -> Option<tonic::Code> {
    let upper = name.trim().to_ascii_uppercase();
    CODES
        .iter()
        .position(|c| *c == upper)
        .map(|i| tonic::Code::from(i as i32))
}

/// The code number for a name a scenario wrote, or why it is none.
pub fn parse_code(name: &str) -> Result<i32, UnknownCode> {
    code_from_name(name)
        .map(|c| c as i32)
        .ok_or_else(|| UnknownCode(name.to_owned()))
}

/// The name of code number `code` ("UNKNOWN" for a number beyond the table).
pub fn code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree() {
        for (i, name) in CODES.iter().enumerate() {
            assert_eq!(parse_code(name), Ok(i as i32));
            assert_eq!(code_name(i as i32), *name);
        }
        assert_eq!(parse_code(" not_found "), Ok(5));
        assert_eq!(code_name(17), "UNKNOWN");
        assert_eq!(
            parse_code("NOPE").unwrap_err().to_string(),
            "\"NOPE\" is not a gRPC code name (OK, NOT_FOUND, UNAVAILABLE, ...)"
        );
    }
}
