//! The policy front end: YAML source → [`ValidatedPolicy`], or every problem found as
//! compiler-style [`Diagnostics`] (file:line:column, key path, help).
//!
//! Stages: `load` deserializes into raw serde structs (unknown keys refused, serde_yaml
//! positions kept); `validate` checks names, references, ranges, overlaps and capacities,
//! placing each finding at its key with a position tree of the source (`locate`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

mod diag;
pub mod diff;
pub mod limits;
mod load;
mod locate;
mod model;
pub mod protocols;
mod raw;
pub mod space;
mod validate;

pub use diag::{
    Diagnostic, Diagnostics, Excerpt, JsonDiagnostic, Position, Severity, did_you_mean, list,
    plural,
};
pub use locate::KeyPath;
pub use model::{
    Conduit, Defaults, Interface, L2Allow, LogMode, Mode, OnViolation, PortRange, Profile,
    RateLimitSpec, Rule, ValidatedPolicy, XdpMode, Zone,
};
pub use protocols::Protocol;

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read (exit code 2).
    #[error("cannot read policy file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file, or larger than the limit (exit code 2).
    #[error(transparent)]
    Refused(limits::ReadError),
    /// The policy is invalid (exit code 1); displays every diagnostic.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and validates the policy file at `path`; diagnostics name it as given.
pub fn load_file(path: &Path) -> Result<ValidatedPolicy, PolicyError> {
    load_file_within(path, &limits::Limits::default())
}

/// [`load_file`] within `limits` (see [`limits`]: regular files only, read without blocking,
/// size, nesting and alias expansion bounded).
pub fn load_file_within(
    path: &Path,
    limits: &limits::Limits,
) -> Result<ValidatedPolicy, PolicyError> {
    let bytes = limits::read(path, limits).map_err(|e| match e {
        limits::ReadError::Io { source, .. } => PolicyError::Io {
            path: path.to_owned(),
            source,
        },
        refused => PolicyError::Refused(refused),
    })?;
    load_bytes(&bytes, &path.display().to_string())
}

/// The origin diagnostics name for a policy read from standard input (`zcfw check -`).
pub const STDIN_ORIGIN: &str = "<stdin>";

/// Reads a policy from standard input (at most `limits.max_bytes`) and validates it;
/// diagnostics name it [`STDIN_ORIGIN`].
pub fn load_stdin(limits: &limits::Limits) -> Result<ValidatedPolicy, PolicyError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| PolicyError::Io {
            path: PathBuf::from(STDIN_ORIGIN),
            source,
        })?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(PolicyError::Refused(limits::ReadError::TooLarge {
            path: STDIN_ORIGIN.into(),
            max: limits.max_bytes,
        }));
    }
    load_bytes(&bytes, STDIN_ORIGIN)
}

/// Validates the policy source `bytes` (UTF-8 required); `origin` names it in diagnostics.
pub fn load_bytes(bytes: &[u8], origin: &str) -> Result<ValidatedPolicy, PolicyError> {
    let origin = origin.to_owned();
    match std::str::from_utf8(bytes) {
        Ok(src) => load_str(src, &origin),
        Err(e) => {
            let mut d = Diagnostic::new(
                Severity::Error,
                &origin,
                format!(
                    "the policy file is not valid UTF-8 (byte {})",
                    e.valid_up_to()
                ),
            );
            d.help.push("save the policy as UTF-8 text".into());
            Err(PolicyError::Invalid(Diagnostics::new(&origin, vec![d])))
        }
    }
}

/// Validates policy source `src`; `origin` names it in diagnostics (usually the file path).
pub fn load_str(src: &str, origin: &str) -> Result<ValidatedPolicy, PolicyError> {
    // Before any parser builds a tree: bounded depth and alias expansion.
    if let Err(d) = limits::check_shape(src, origin) {
        return Err(PolicyError::Invalid(Diagnostics::new(origin, vec![*d])));
    }
    let locator = locate::Locator::new(src);
    let duplicates: Vec<Diagnostic> = locator
        .duplicates()
        .iter()
        .map(|dup| {
            let mut d = Diagnostic::new(
                Severity::Error,
                origin,
                format!("key \"{}\" is given twice", last_key(&dup.path)),
            );
            d.key = Some(dup.path.to_string());
            d.help.push(format!(
                "the first is at line {}, column {}; remove or rename one",
                dup.first.line, dup.first.column
            ));
            d.locate(src, dup.again);
            d
        })
        .collect();
    let raw = match load::parse(src, origin, &locator) {
        Ok(raw) => raw,
        Err(mut e) => {
            // serde_yaml stops at a repeated field without a useful position; the locator
            // has already placed it.
            let mut all = duplicates;
            let more = load::more_unknown_keys(src, &mut e, origin, &locator);
            if all.is_empty() || !e.message.starts_with("duplicate field") {
                all.push(*e);
            }
            all.extend(more);
            return Err(PolicyError::Invalid(Diagnostics::new(origin, all)));
        }
    };
    let ctx = validate::Context {
        origin,
        src,
        locator: &locator,
        source_hash: sha256_hex(src.as_bytes()),
    };
    validate::validate(raw, &ctx, duplicates).map_err(PolicyError::Invalid)
}

fn last_key(path: &KeyPath) -> String {
    match path.segments().last() {
        Some(locate::Segment::Key(k)) => k.clone(),
        _ => path.to_string(),
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
