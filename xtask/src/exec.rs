//! Running child processes: every command is printed (`$ ...`) before it runs, and a failure
//! carries the child's exit code up to `main`, which exits with it.

use std::{
    ffi::OsStr,
    fmt,
    io::{Read, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
};

use anyhow::{Context, Result};

/// A command or check that failed; `main` prints the message and exits with `code`.
#[derive(Debug)]
pub struct Failed {
    /// What failed, for the error line.
    pub what: String,
    /// The exit code this process ends with.
    pub code: u8,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Failed {}

/// An error that makes `cargo xtask` exit with `code`.
pub fn fail(code: u8, what: impl Into<String>) -> anyhow::Error {
    Failed {
        what: what.into(),
        code,
    }
    .into()
}

/// `command` as a shell line, with the environment it sets in front: `A=b cargo test -p x`.
/// A PATH it sets is left out (it only adds `~/.cargo/bin`, and would drown the line).
pub fn shown(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if key == "PATH" {
            continue;
        }
        if let Some(value) = value {
            words.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    let program = Path::new(command.get_program());
    // `$CARGO` is a full path into the toolchain; `cargo` says the same to a reader.
    if program.file_name().is_some_and(|n| n == "cargo") {
        words.push("cargo".to_owned());
    } else {
        words.push(quote(&program.to_string_lossy()));
    }
    words.extend(command.get_args().map(|a| quote(&a.to_string_lossy())));
    words.join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The exit code a child's status maps to (128 + signal for a killed child, as shells do).
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1).max(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

fn spawn_context(command: &Command) -> String {
    format!(
        "could not start `{}`: is it installed and on PATH?",
        command.get_program().to_string_lossy()
    )
}

/// Prints and runs `command` with inherited stdio; a non-zero exit becomes [`Failed`].
pub fn run(command: &mut Command) -> Result<()> {
    let line = shown(command);
    println!("$ {line}");
    flush();
    let status = command.status().with_context(|| spawn_context(command))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(
            exit_code(status),
            format!("`{line}` failed ({status})"),
        ))
    }
}

/// Prints `command` and replaces this process with it (exec); returns only if that fails.
pub fn replace(command: &mut Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    println!("$ {}", shown(command));
    flush();
    let err = command.exec();
    Err(anyhow::Error::new(err).context(spawn_context(command)))
}

/// Test counts read from libtest's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl TestCounts {
    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// Parses `test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; ...`.
    pub fn parse_line(line: &str) -> Option<TestCounts> {
        let rest = line.trim().strip_prefix("test result: ")?;
        let (_, counts) = rest.split_once(". ")?;
        let mut out = TestCounts::default();
        for part in counts.split(';') {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => out.passed = n,
                "failed" => out.failed = n,
                "ignored" => out.ignored = n,
                _ => {}
            }
        }
        Some(out)
    }
}

/// Prints and runs a `cargo test`-like command, passing its stdout through as it comes while
/// adding up the `test result:` lines in it. A non-zero exit becomes [`Failed`].
pub fn run_counting_tests(command: &mut Command) -> (TestCounts, Result<()>) {
    let line = shown(command);
    println!("$ {line}");
    flush();
    let mut counts = TestCounts::default();
    let mut child = match command.stdout(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            return (
                counts,
                Err(anyhow::Error::new(e).context(spawn_context(command))),
            );
        }
    };
    if let Some(mut stdout) = child.stdout.take() {
        let mut out = std::io::stdout();
        let mut buf = [0u8; 8192];
        let mut pending = Vec::new();
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..=end);
                if let Some(c) = TestCounts::parse_line(&text) {
                    counts.add(c);
                }
            }
        }
    }
    let result = match child.wait() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(fail(
            exit_code(status),
            format!("`{line}` failed ({status})"),
        )),
        Err(e) => Err(anyhow::Error::new(e).context(format!("waiting for `{line}`"))),
    };
    (counts, result)
}

/// Runs `program args` quietly (a probe, not printed) and returns its stdout when it exits 0.
pub fn probe<I, S>(program: impl AsRef<OsStr>, args: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The first executable called `name` on PATH, then in the extra directories given.
pub fn find_program(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Flushes stdout so that our lines come before a child's output.
pub fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_summary() {
        let line = "test result: FAILED. 12 passed; 3 failed; 2 ignored; 0 measured; 5 filtered \
                    out; finished in 0.01s";
        assert_eq!(
            TestCounts::parse_line(line),
            Some(TestCounts {
                passed: 12,
                failed: 3,
                ignored: 2
            })
        );
        assert_eq!(TestCounts::parse_line("running 3 tests"), None);
    }

    #[test]
    fn shows_env_and_quotes() {
        let mut c = Command::new("cargo");
        c.env("ZCFW_BIN", "/a b/zcfw").args(["test", "--", "it's"]);
        assert_eq!(shown(&c), "ZCFW_BIN='/a b/zcfw' cargo test -- 'it'\\''s'");
    }
}
