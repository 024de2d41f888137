//! Bounds on what a policy file may cost to read. A policy comes from a path an operator (or
//! whoever can write there) controls; the daemon reads it while it enforces, so reading it
//! must never hang, nor take unbounded memory or time:
//! - only a regular file is read, opened without blocking (a FIFO or a device such as
//!   `/dev/zero`, also behind a symbolic link, is refused before a byte is read);
//! - at most [`Limits::max_bytes`] are read;
//! - before any YAML library builds anything, one pass over the YAML events (linear in the
//!   input, nothing kept per node) bounds the nesting depth and the number of nodes the
//!   document has with every alias expanded ("billion laughs": a few hundred bytes of nested
//!   aliases that expand to billions of nodes).

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
};

use yaml_rust2::parser::{Event, Parser};

use super::diag::{Diagnostic, Position, Severity, plural};

/// Default of [`Limits::max_bytes`]: 16 MiB, hundreds of times the largest real policy (a
/// 10,000-conduit policy is about 1 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Nesting a policy needs is about 8 levels (conduits, rules, protocol blocks, lists).
pub const MAX_DEPTH: usize = 64;
/// Nodes of the document with aliases expanded: generous for the largest policies (a
/// 10,000-conduit policy has about 200,000), far below what would exhaust memory.
pub const MAX_NODES: u64 = 4_000_000;

/// What a policy file may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest policy file read, in bytes.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why a policy file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "{path} is {kind}, not a regular file; a policy must be a regular file (a FIFO or a \
         device would block or never end); point to the policy file itself"
    )]
    NotAFile { path: String, kind: &'static str },
    #[error(
        "{path} is larger than {max} bytes (the policy size limit); check that it is the \
         policy file, or raise the limit with `zcfw run --max-policy-bytes`"
    )]
    TooLarge { path: String, max: u64 },
    #[error("cannot read policy file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads the policy file at `path` within `limits`, never blocking on it.
pub fn read(path: &Path, limits: &Limits) -> Result<Vec<u8>, ReadError> {
    let shown = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: shown(),
        source,
    };
    // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever; O_NOCTTY: a
    // terminal must not become ours.
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile {
            path: shown(),
            kind: kind(meta.file_type()),
        });
    }
    if meta.len() > limits.max_bytes {
        return Err(ReadError::TooLarge {
            path: shown(),
            max: limits.max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed tells a file that grew while being read.
    file.take(limits.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ReadError::TooLarge {
            path: shown(),
            max: limits.max_bytes,
        });
    }
    Ok(bytes)
}

/// One pass over the YAML events of `src`: refuses nesting deeper than [`MAX_DEPTH`] and
/// documents of more than [`MAX_NODES`] nodes with aliases expanded. Syntax errors are left
/// to the parser that reports them properly (the pass just stops).
pub fn check_shape(src: &str, origin: &str) -> Result<(), Box<Diagnostic>> {
    check_shape_within(src, origin, MAX_DEPTH, MAX_NODES)
}

fn check_shape_within(
    src: &str,
    origin: &str,
    max_depth: usize,
    max_nodes: u64,
) -> Result<(), Box<Diagnostic>> {
    let mut parser = Parser::new_from_str(src);
    // Per open collection: its anchor id (0: none) and the expanded nodes in it so far.
    let mut open: Vec<(usize, u64)> = Vec::new();
    // Expanded size of every anchored node.
    let mut anchors: HashMap<usize, u64> = HashMap::new();
    let mut total: u64 = 0;
    let refuse = |mark: &yaml_rust2::scanner::Marker, message: String, help: &str| {
        let mut d = Diagnostic::new(Severity::Error, origin, message);
        d.locate(
            src,
            Position {
                line: mark.line(),
                column: mark.col() + 1,
            },
        );
        d.help.push(help.to_owned());
        Box::new(d)
    };
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // yaml-rust2 stops at 255 open flow collections (`[[[[...`) before handing out
            // their events; libyaml would take time quadratic in the depth.
            Err(e) if e.info().contains("recursion limit") => {
                return Err(refuse(
                    e.marker(),
                    format!("the policy nests deeper than {max_depth} levels"),
                    "a policy needs about 8 levels; flatten the structure",
                ));
            }
            Err(_) => return Ok(()),
        };
        // Nodes this event adds: a collection or a scalar 1, an alias what its anchor holds.
        let added = match event {
            Event::StreamEnd => return Ok(()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= max_depth {
                    return Err(refuse(
                        &mark,
                        format!("the policy nests deeper than {max_depth} levels"),
                        "a policy needs about 8 levels; flatten the structure",
                    ));
                }
                open.push((anchor, 1));
                1
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((anchor, size)) = open.pop() else {
                    continue;
                };
                if anchor != 0 {
                    anchors.insert(anchor, size);
                }
                // Counted in `total` as it grew; the parent now holds it.
                if let Some(parent) = open.last_mut() {
                    parent.1 = parent.1.saturating_add(size);
                }
                continue;
            }
            Event::Scalar(_, _, anchor, _) => {
                if anchor != 0 {
                    anchors.insert(anchor, 1);
                }
                1
            }
            Event::Alias(id) => anchors.get(&id).copied().unwrap_or(1),
            _ => continue,
        };
        total = total.saturating_add(added);
        let is_collection = matches!(event, Event::SequenceStart(..) | Event::MappingStart(..));
        // A collection is added to its parent whole when it ends.
        if !is_collection && let Some(parent) = open.last_mut() {
            parent.1 = parent.1.saturating_add(added);
        }
        if total > max_nodes {
            return Err(refuse(
                &mark,
                format!(
                    "the policy expands to more than {} (aliases `*name` repeat what their \
                     anchor `&name` holds)",
                    plural(max_nodes as usize, "node")
                ),
                "write the repeated parts out, or use fewer nested aliases",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `levels` levels of nine aliases of the level below: 9^levels nodes.
    fn laughs(levels: usize) -> String {
        let mut s = String::from("version: 1\nname: lol\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=levels {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn nested_aliases_are_refused_quickly() {
        let started = std::time::Instant::now();
        let d = check_shape(&laughs(9), "lol.yaml").expect_err("billion laughs");
        assert!(d.message.contains("expands to more than"), "{}", d.message);
        assert!(d.position.is_some());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // A few aliases are fine.
        check_shape(&laughs(2), "lol.yaml").expect("81 nodes");
    }

    #[test]
    fn deep_nesting_is_refused_at_the_limit() {
        let deep = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let d = check_shape(&deep, "deep.yaml").expect_err("too deep");
        assert!(d.message.contains("deeper than 64"), "{}", d.message);
        let ok = format!("x: {}{}\n", "[".repeat(40), "]".repeat(40));
        check_shape(&ok, "ok.yaml").expect("40 levels");
    }

    #[test]
    fn nodes_count_with_aliases_expanded() {
        // The map, 3 keys, an anchored sequence of 3 scalars (4 nodes), two aliases of it (8).
        let src = "a: &s [1, 2, 3]\nb: *s\nc: *s\n";
        check_shape_within(src, "t", 8, 100).expect("within");
        check_shape_within(src, "t", 8, 16).expect("16 nodes");
        let d = check_shape_within(src, "t", 8, 15).expect_err("over 15 nodes");
        assert!(d.message.contains("15 nodes"), "{}", d.message);
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("zcfw-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let started = std::time::Instant::now();
        let err = read(&fifo, &Limits::default()).expect_err("a FIFO is refused");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "it blocked"
        );
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let zero = dir.join("zero");
        let _ = std::fs::remove_file(&zero);
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let err = read(&zero, &Limits::default()).expect_err("a device is refused");
        assert!(err.to_string().contains("character device"), "{err}");
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; 2048]).expect("write");
        let err = read(&big, &Limits { max_bytes: 1024 }).expect_err("too large");
        assert!(err.to_string().contains("--max-policy-bytes"), "{err}");
        assert_eq!(
            read(&big, &Limits { max_bytes: 2048 }).expect("fits").len(),
            2048
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod hostile {
    use std::time::{Duration, Instant};

    use crate::policy::{PolicyError, load_str};

    fn policy_with_ports(ports: &str) -> String {
        format!(
            "version: 1\nname: ports\ninterfaces:\n  - {{ name: eth0 }}\nzones:\n  \
             office: {{ security_level: 1, networks: [192.168.1.0/24] }}\n  \
             plant: {{ security_level: 3, networks: [192.168.2.0/24] }}\nconduits:\n  \
             - name: office-reads-plant\n    from: office\n    to: plant\n    rules:\n      \
             - {{ protocol: tcp, ports: [{ports}] }}\n"
        )
    }

    /// 20,000 copies of one port on one line: every overlap is a warning, but only the first
    /// 100 are kept, each with a short excerpt, and the rest are counted.
    #[test]
    fn duplicate_ports_cost_little_and_are_summarised() {
        let src = policy_with_ports(&vec!["80"; 20_000].join(", "));
        let started = Instant::now();
        let policy = load_str(&src, "ports.yaml").expect("duplicates are warnings");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let warnings = policy.warnings();
        assert_eq!(warnings.len(), 101, "100 kept and the summary");
        let last = warnings.last().expect("summary").to_string();
        assert!(last.contains("19899 more"), "{last}");
        let shown: usize = warnings.iter().map(|w| w.to_string().len()).sum();
        assert!(shown < 100 * 1_000, "{shown} bytes of warnings");
    }

    /// Invalid ports by the thousand: errors beyond 100 are counted, not kept.
    #[test]
    fn errors_are_capped_with_the_count() {
        let src = policy_with_ports(&vec!["0"; 5_000].join(", "));
        match load_str(&src, "zero.yaml") {
            Err(PolicyError::Invalid(d)) => {
                assert_eq!(d.error_count(), 5_000);
                assert_eq!(d.iter().count(), 100);
                let text = d.to_string();
                assert!(
                    text.contains("and 4900 more not shown"),
                    "{}",
                    &text[text.len() - 300..]
                );
                assert!(
                    text.ends_with("policy refused: 5000 errors"),
                    "{}",
                    &text[text.len() - 100..]
                );
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }
}
